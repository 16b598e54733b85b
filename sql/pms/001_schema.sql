-- The tables of the PMS (rht-hotel, api/migrations/*.sql) that the bridge reads or writes, and
-- the ones their keys reference, column for column as the real database has them: names,
-- types, NOT NULL, defaults, checks, keys, LIST partitions by hotel_id (one per hotel, made
-- at run time), the PMS's indexes, and its own triggers (audit rows into logs_*, a NOTIFY per
-- reservation log row, hotels.total_rooms kept by a rooms trigger). The PMS's own tables are
-- the reference: tests/data/pms_manifest.json holds their columns, and a test compares this
-- file against it. Left out: tables the bridge never touches (parking, billing, OTA queues,
-- ...), the foreign keys into them, and the parking trigger on hotels.

CREATE EXTENSION IF NOT EXISTS pg_trgm;

-- Users: created_by / updated_by of every table reference them.
CREATE TABLE user_roles (
    id SERIAL PRIMARY KEY,
    role_name varchar(50) NOT NULL UNIQUE,
    permissions jsonb DEFAULT '{}'::jsonb,
    description text,
    updated_by integer
);

CREATE TABLE user_status (
    id SERIAL PRIMARY KEY,
    status_name varchar(50) NOT NULL UNIQUE,
    description text,
    updated_by integer
);

CREATE TABLE users (
    id SERIAL PRIMARY KEY,
    email varchar(255) NOT NULL UNIQUE,
    name text,
    password_hash text,
    status_id integer DEFAULT 1 REFERENCES user_status (id),
    role_id integer DEFAULT 5 REFERENCES user_roles (id),
    auth_provider varchar(50) NOT NULL DEFAULT 'local',
    provider_user_id varchar(255),
    google_calendar_id text,
    google_access_token text,
    google_refresh_token text,
    google_token_expiry_date timestamp with time zone,
    last_successful_google_sync timestamp with time zone,
    created_at timestamp DEFAULT CURRENT_TIMESTAMP,
    created_by integer REFERENCES users (id),
    updated_by integer REFERENCES users (id),
    CONSTRAINT password_auth_consistency CHECK (
        (auth_provider = 'local' AND password_hash IS NOT NULL)
        OR (auth_provider <> 'local' AND password_hash IS NULL)),
    CONSTRAINT provider_id_consistency CHECK (
        (auth_provider = 'local' AND provider_user_id IS NULL)
        OR (auth_provider <> 'local' AND provider_user_id IS NOT NULL))
);

CREATE INDEX idx_users_auth_provider_provider_user_id ON users (auth_provider, provider_user_id);
CREATE INDEX idx_users_email ON users (email);
CREATE INDEX idx_users_status_role_email_id ON users (status_id, role_id, email, id);

ALTER TABLE user_roles ADD FOREIGN KEY (updated_by) REFERENCES users (id);
ALTER TABLE user_status ADD FOREIGN KEY (updated_by) REFERENCES users (id);

CREATE TABLE hotels (
    id SERIAL PRIMARY KEY,
    formal_name varchar(255),
    name varchar(255) NOT NULL,
    facility_type varchar(255),
    open_date date,
    total_rooms integer,
    postal_code varchar(20),
    address text,
    email text,
    phone_number varchar(20),
    latitude numeric(9, 6),
    longitude numeric(9, 6),
    bank_name text,
    bank_branch_name text,
    bank_account_type text,
    bank_account_number text,
    bank_account_name text,
    google_drive_url text,
    sort_order integer DEFAULT 0,
    created_at timestamp DEFAULT CURRENT_TIMESTAMP,
    created_by integer REFERENCES users (id),
    updated_by integer REFERENCES users (id)
);
CREATE INDEX idx_hotels_id ON hotels (id);

CREATE TABLE room_types (
    id SERIAL,
    hotel_id integer NOT NULL REFERENCES hotels (id) ON DELETE CASCADE,
    name text NOT NULL,
    description text,
    created_at timestamp DEFAULT CURRENT_TIMESTAMP,
    created_by integer REFERENCES users (id),
    updated_by integer REFERENCES users (id),
    PRIMARY KEY (hotel_id, id),
    UNIQUE (hotel_id, name)
) PARTITION BY LIST (hotel_id);
CREATE INDEX idx_room_types_hotel_id_id ON room_types (hotel_id, id);
CREATE INDEX idx_room_types_id_hotel_id ON room_types (id, hotel_id);

CREATE TABLE rooms (
    id SERIAL,
    hotel_id integer NOT NULL REFERENCES hotels (id) ON DELETE CASCADE,
    room_type_id integer NOT NULL,
    floor integer NOT NULL DEFAULT 1,
    room_number text NOT NULL,
    capacity integer NOT NULL DEFAULT 1,
    smoking boolean NOT NULL DEFAULT false,
    has_wet_area boolean NOT NULL DEFAULT false,
    for_sale boolean NOT NULL DEFAULT true,
    is_staff_room boolean NOT NULL DEFAULT false,
    assignment_priority integer,
    created_at timestamp DEFAULT CURRENT_TIMESTAMP,
    created_by integer REFERENCES users (id),
    updated_by integer REFERENCES users (id),
    PRIMARY KEY (hotel_id, id),
    UNIQUE (hotel_id, room_type_id, room_number),
    FOREIGN KEY (room_type_id, hotel_id) REFERENCES room_types (id, hotel_id) ON DELETE CASCADE
) PARTITION BY LIST (hotel_id);
CREATE INDEX idx_rooms_hotel_id_for_sale_assignment_priority_room_type_id_ca
    ON rooms (hotel_id, for_sale, assignment_priority, room_type_id, capacity);
CREATE INDEX idx_rooms_hotel_id_id_room_type_id_for_sale
    ON rooms (hotel_id, id, room_type_id, for_sale);
CREATE INDEX idx_rooms_id_hotel_for_sale ON rooms (id, hotel_id, for_sale);
CREATE INDEX idx_rooms_id_hotel_id_room_type_id_room_number
    ON rooms (id, hotel_id, room_type_id, room_number);

CREATE TABLE clients (
    id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    customer_id integer,
    name text NOT NULL DEFAULT 'TBD',
    name_kana text,
    name_kanji text,
    date_of_birth date,
    legal_or_natural_person text CHECK (legal_or_natural_person IN ('legal', 'natural')),
    gender text DEFAULT 'other' CHECK (gender IN ('male', 'female', 'other')),
    email text,
    phone text,
    fax text,
    loyalty_tier varchar(50) DEFAULT 'prospect',
    client_group_id uuid,
    website text,
    billing_preference text DEFAULT 'paper' CHECK (billing_preference IN ('paper', 'digital')),
    comment text,
    created_at timestamp DEFAULT CURRENT_TIMESTAMP,
    created_by integer REFERENCES users (id),
    updated_by integer REFERENCES users (id)
);
CREATE INDEX idx_clients_customer_id ON clients (customer_id);
CREATE INDEX idx_clients_group_order
    ON clients (client_group_id, legal_or_natural_person, name_kana, name_kanji, name);
CREATE INDEX idx_clients_id ON clients (id);
CREATE INDEX idx_clients_name ON clients (name);
CREATE INDEX idx_clients_name_kana ON clients (name_kana);
CREATE INDEX trgm_idx_client_email ON clients USING gin (email gin_trgm_ops);
CREATE INDEX trgm_idx_client_name ON clients USING gin (name gin_trgm_ops);
CREATE INDEX trgm_idx_client_name_kana ON clients USING gin (name_kana gin_trgm_ops);
CREATE INDEX trgm_idx_client_name_kanji ON clients USING gin (name_kanji gin_trgm_ops);
CREATE INDEX trgm_idx_client_phone ON clients USING gin (phone gin_trgm_ops);

CREATE TABLE tax_info (
    id SERIAL PRIMARY KEY,
    name text NOT NULL UNIQUE,
    description text,
    percentage numeric(10, 4) NOT NULL,
    visible boolean DEFAULT true,
    created_at timestamp DEFAULT CURRENT_TIMESTAMP,
    created_by integer REFERENCES users (id),
    updated_by integer REFERENCES users (id)
);
CREATE INDEX idx_tax_info_percentage_name ON tax_info (percentage, name);

CREATE TABLE plan_type_categories (
    id SERIAL PRIMARY KEY,
    name text NOT NULL UNIQUE,
    description text,
    color varchar(7) DEFAULT '#D3D3D3' CHECK (color ~ '^#[0-9A-Fa-f]{6}$'),
    display_order integer DEFAULT 0,
    created_at timestamp DEFAULT CURRENT_TIMESTAMP,
    created_by integer REFERENCES users (id),
    updated_by integer REFERENCES users (id)
);

CREATE TABLE plan_package_categories (
    id SERIAL PRIMARY KEY,
    name text NOT NULL UNIQUE,
    description text,
    color varchar(7) DEFAULT '#D3D3D3' CHECK (color ~ '^#[0-9A-Fa-f]{6}$'),
    display_order integer DEFAULT 0,
    created_at timestamp DEFAULT CURRENT_TIMESTAMP,
    created_by integer REFERENCES users (id),
    updated_by integer REFERENCES users (id)
);

CREATE TABLE plans_global (
    id SERIAL PRIMARY KEY,
    name text NOT NULL UNIQUE,
    description text,
    plan_type text NOT NULL DEFAULT 'per_room' CHECK (plan_type IN ('per_person', 'per_room')),
    color varchar(7) DEFAULT '#D3D3D3' CHECK (color ~ '^#[0-9A-Fa-f]{6}$'),
    created_at timestamp DEFAULT CURRENT_TIMESTAMP,
    created_by integer REFERENCES users (id),
    updated_by integer REFERENCES users (id)
);
CREATE INDEX idx_plans_global_id ON plans_global (id);
CREATE INDEX idx_plans_global_name ON plans_global (name);

CREATE TABLE plans_hotel (
    id SERIAL,
    hotel_id integer NOT NULL REFERENCES hotels (id) ON DELETE CASCADE,
    plans_global_id integer REFERENCES plans_global (id) ON DELETE SET NULL,
    name text NOT NULL,
    description text,
    plan_type text NOT NULL DEFAULT 'per_room' CHECK (plan_type IN ('per_person', 'per_room')),
    color varchar(7) DEFAULT '#D3D3D3' CHECK (color ~ '^#[0-9A-Fa-f]{6}$'),
    plan_type_category_id integer NOT NULL REFERENCES plan_type_categories (id),
    plan_package_category_id integer NOT NULL DEFAULT 1 REFERENCES plan_package_categories (id),
    display_order integer DEFAULT 0,
    is_active boolean DEFAULT true,
    available_from date,
    available_until date,
    created_at timestamp DEFAULT CURRENT_TIMESTAMP,
    created_by integer REFERENCES users (id),
    updated_by integer REFERENCES users (id),
    PRIMARY KEY (hotel_id, id),
    UNIQUE (hotel_id, name)
) PARTITION BY LIST (hotel_id);
CREATE INDEX idx_plans_hotel_availability
    ON plans_hotel (hotel_id, is_active, available_from, available_until);
CREATE INDEX idx_plans_hotel_display_order ON plans_hotel (hotel_id, display_order);
CREATE INDEX idx_plans_hotel_hotel_id_id ON plans_hotel (hotel_id, id);
CREATE INDEX idx_plans_hotel_hotel_id_name ON plans_hotel (hotel_id, name);
CREATE INDEX idx_plans_hotel_hotel_id_plans_global_id ON plans_hotel (hotel_id, plans_global_id);
CREATE INDEX idx_plans_hotel_id_hotel_id ON plans_hotel (id, hotel_id);
CREATE INDEX idx_plans_hotel_id_hotel_id_plans_global_id
    ON plans_hotel (id, hotel_id, plans_global_id);
CREATE INDEX idx_plans_hotel_package_category ON plans_hotel (hotel_id, plan_package_category_id);
CREATE INDEX idx_plans_hotel_type_category ON plans_hotel (hotel_id, plan_type_category_id);

CREATE TABLE plans_rates (
    id SERIAL PRIMARY KEY,
    hotel_id integer REFERENCES hotels (id) ON DELETE CASCADE,
    plans_global_id integer REFERENCES plans_global (id) ON DELETE CASCADE,
    plans_hotel_id integer,
    adjustment_type text NOT NULL
        CHECK (adjustment_type IN ('base_rate', 'percentage', 'flat_fee')),
    include_in_cancel_fee boolean NOT NULL DEFAULT false,
    adjustment_value numeric(10, 2) NOT NULL,
    tax_type_id integer REFERENCES tax_info (id),
    tax_rate numeric(12, 4),
    net_price numeric(12, 0) GENERATED ALWAYS AS (
        CASE WHEN adjustment_type IN ('base_rate', 'flat_fee') THEN
            adjustment_value - floor(adjustment_value
                * CASE WHEN tax_rate > 1 THEN tax_rate / 100.0 ELSE coalesce(tax_rate, 0) END
                / (1 + CASE WHEN tax_rate > 1 THEN tax_rate / 100.0 ELSE coalesce(tax_rate, 0) END))
        END) STORED,
    sales_category text DEFAULT 'accommodation' CHECK (sales_category IN ('accommodation', 'other')),
    condition_type text NOT NULL CHECK (condition_type IN ('no_restriction', 'day_of_week', 'month')),
    condition_value text,
    date_start date NOT NULL,
    date_end date,
    created_at timestamp DEFAULT CURRENT_TIMESTAMP,
    created_by integer REFERENCES users (id),
    updated_by integer REFERENCES users (id),
    CONSTRAINT plans_rates_check CHECK (
        (plans_global_id IS NOT NULL AND plans_hotel_id IS NULL)
        OR (plans_global_id IS NULL AND plans_hotel_id IS NOT NULL)),
    FOREIGN KEY (plans_hotel_id, hotel_id) REFERENCES plans_hotel (id, hotel_id) ON DELETE CASCADE
);
CREATE INDEX idx_plans_rates_date_start_date_end ON plans_rates (date_start, date_end);
CREATE INDEX idx_plans_rates_global_plan_hotel_id ON plans_rates (plans_global_id, plans_hotel_id);
CREATE INDEX idx_plans_rates_group_by_fields
    ON plans_rates (condition_type, adjustment_type, condition_value, tax_type_id, tax_rate);
CREATE INDEX idx_plans_rates_hotel_plan_hotel_id_global_id
    ON plans_rates (plans_hotel_id, hotel_id, plans_global_id);
CREATE INDEX idx_plans_rates_order_by_fields ON plans_rates
    (adjustment_type, condition_type DESC, date_start, plans_global_id, hotel_id, plans_hotel_id);

CREATE TABLE addons_global (
    id SERIAL PRIMARY KEY,
    name text NOT NULL UNIQUE,
    addon_type text DEFAULT 'other'
        CHECK (addon_type IN ('breakfast', 'lunch', 'dinner', 'other', 'parking')),
    description text,
    price numeric NOT NULL,
    tax_type_id integer REFERENCES tax_info (id),
    tax_rate numeric(12, 4),
    net_price numeric(12, 0) GENERATED ALWAYS AS (
        price - floor(price
            * CASE WHEN tax_rate > 1 THEN tax_rate / 100.0 ELSE coalesce(tax_rate, 0) END
            / (1 + CASE WHEN tax_rate > 1 THEN tax_rate / 100.0 ELSE coalesce(tax_rate, 0) END))
        ) STORED,
    visible boolean DEFAULT true,
    created_at timestamp DEFAULT CURRENT_TIMESTAMP,
    created_by integer REFERENCES users (id),
    updated_by integer REFERENCES users (id)
);

CREATE TABLE addons_hotel (
    id SERIAL,
    hotel_id integer NOT NULL REFERENCES hotels (id) ON DELETE CASCADE,
    addons_global_id integer REFERENCES addons_global (id) ON DELETE SET NULL,
    name text NOT NULL,
    addon_type text DEFAULT 'other'
        CHECK (addon_type IN ('breakfast', 'lunch', 'dinner', 'other', 'parking')),
    description text,
    price numeric NOT NULL,
    tax_type_id integer REFERENCES tax_info (id),
    tax_rate numeric(12, 4),
    net_price numeric(12, 0) GENERATED ALWAYS AS (
        price - floor(price
            * CASE WHEN tax_rate > 1 THEN tax_rate / 100.0 ELSE coalesce(tax_rate, 0) END
            / (1 + CASE WHEN tax_rate > 1 THEN tax_rate / 100.0 ELSE coalesce(tax_rate, 0) END))
        ) STORED,
    visible boolean DEFAULT true,
    created_at timestamp DEFAULT CURRENT_TIMESTAMP,
    created_by integer REFERENCES users (id),
    updated_by integer REFERENCES users (id),
    PRIMARY KEY (hotel_id, id),
    UNIQUE (hotel_id, name)
) PARTITION BY LIST (hotel_id);

CREATE TABLE reservations (
    id uuid NOT NULL DEFAULT gen_random_uuid(),
    hotel_id integer NOT NULL REFERENCES hotels (id) ON DELETE CASCADE,
    reservation_client_id uuid NOT NULL REFERENCES clients (id) ON DELETE CASCADE,
    check_in date NOT NULL,
    check_in_time time DEFAULT '16:00:00',
    check_out date NOT NULL,
    check_out_time time DEFAULT '10:00:00',
    number_of_people integer NOT NULL,
    status text NOT NULL DEFAULT 'hold' CHECK (status IN (
        'hold', 'provisory', 'confirmed', 'checked_in', 'checked_out', 'cancelled', 'block')),
    type text NOT NULL DEFAULT 'default' CHECK (type IN ('default', 'employee', 'ota', 'web')),
    agent text,
    ota_reservation_id text,
    payment_timing text NOT NULL DEFAULT 'not_set'
        CHECK (payment_timing IN ('not_set', 'prepaid', 'on-site', 'postpaid')),
    comment text,
    has_important_comment boolean NOT NULL DEFAULT false,
    created_at timestamp DEFAULT CURRENT_TIMESTAMP,
    created_by integer REFERENCES users (id),
    updated_by integer REFERENCES users (id),
    PRIMARY KEY (hotel_id, id)
) PARTITION BY LIST (hotel_id);
CREATE INDEX idx_reservations_check_in_check_out ON reservations (check_in, check_out);
CREATE INDEX idx_reservations_client_id_status ON reservations (reservation_client_id, status);
CREATE INDEX idx_reservations_created_at ON reservations (created_at);
CREATE INDEX idx_reservations_created_by_status ON reservations (created_by, status);
CREATE INDEX idx_reservations_created_by_status_check_in_id
    ON reservations (created_by, status, check_in, id);
CREATE INDEX idx_reservations_hotel_checkout ON reservations (hotel_id, check_out);
CREATE INDEX idx_reservations_hotel_id_check_in ON reservations (hotel_id, check_in);
CREATE INDEX idx_reservations_hotel_id_check_in_check_out_status_client_id
    ON reservations (hotel_id, check_in, check_out, status, reservation_client_id);
CREATE INDEX idx_reservations_hotel_id_created_at ON reservations (hotel_id, created_at);
CREATE INDEX idx_reservations_hotel_id_id_reservation_client_id
    ON reservations (hotel_id, id, reservation_client_id);
CREATE INDEX idx_reservations_hotel_id_id_reservation_client_id_type
    ON reservations (hotel_id, id, reservation_client_id, type);
CREATE INDEX idx_reservations_hotel_id_reservation_client_id
    ON reservations (hotel_id, reservation_client_id);
CREATE INDEX idx_reservations_id_hotel_id ON reservations (id, hotel_id);
CREATE INDEX idx_reservations_id_hotel_status_type ON reservations (id, hotel_id, status, type);
CREATE INDEX idx_reservations_reservation_client_id ON reservations (reservation_client_id);
CREATE INDEX idx_reservations_user_status_checkin ON reservations (created_by, status, check_in);
CREATE INDEX trgm_idx_reservations_ota_reservation_id
    ON reservations USING gin (ota_reservation_id gin_trgm_ops);

CREATE TABLE reservation_details (
    id uuid NOT NULL DEFAULT gen_random_uuid(),
    hotel_id integer NOT NULL REFERENCES hotels (id) ON DELETE CASCADE,
    reservation_id uuid NOT NULL,
    date date NOT NULL,
    room_id integer,
    plans_global_id integer REFERENCES plans_global (id),
    plans_hotel_id integer,
    plan_name text,
    plan_type text NOT NULL DEFAULT 'per_room' CHECK (plan_type IN ('per_person', 'per_room')),
    number_of_people integer NOT NULL,
    price numeric,
    cancelled uuid,
    billable boolean DEFAULT false,
    is_accommodation boolean DEFAULT true,
    created_at timestamp DEFAULT CURRENT_TIMESTAMP,
    created_by integer REFERENCES users (id),
    updated_by integer REFERENCES users (id),
    PRIMARY KEY (hotel_id, id),
    FOREIGN KEY (reservation_id, hotel_id) REFERENCES reservations (id, hotel_id)
        ON DELETE CASCADE,
    FOREIGN KEY (room_id, hotel_id) REFERENCES rooms (id, hotel_id),
    FOREIGN KEY (plans_hotel_id, hotel_id) REFERENCES plans_hotel (id, hotel_id)
) PARTITION BY LIST (hotel_id);
CREATE INDEX idx_reservation_details_date_room_id_cancelled
    ON reservation_details (date, room_id, cancelled);
CREATE INDEX idx_reservation_details_hotel_billable_date_res_id
    ON reservation_details (hotel_id, billable, date, reservation_id);
CREATE INDEX idx_reservation_details_hotel_date ON reservation_details (hotel_id, date);
CREATE INDEX idx_reservation_details_hotel_date_cancelled_billable_res_id_id
    ON reservation_details (hotel_id, date, cancelled, billable, reservation_id, id);
CREATE INDEX idx_reservation_details_hotel_id_plans_global_id_plans_hotel_id
    ON reservation_details (hotel_id, plans_global_id, plans_hotel_id);
CREATE INDEX idx_reservation_details_hotel_id_reservation_id_id_date_cancell
    ON reservation_details
        (hotel_id, reservation_id, id, date, cancelled, plans_hotel_id, plans_global_id);
CREATE INDEX idx_reservation_details_hotel_id_room_id ON reservation_details (hotel_id, room_id);
CREATE INDEX idx_reservation_details_hotel_id_room_id_date_cancelled
    ON reservation_details (hotel_id, room_id, date, cancelled);
CREATE INDEX idx_reservation_details_hotel_id_room_id_reservation_id
    ON reservation_details (hotel_id, room_id, reservation_id);
CREATE INDEX idx_reservation_details_hotel_id_year_month_billable_res_id_roo
    ON reservation_details (hotel_id, date_part('year', date), date_part('month', date),
                            billable, reservation_id, room_id);
CREATE INDEX idx_reservation_details_hotel_room_date_cancelled
    ON reservation_details (hotel_id, room_id, date) WHERE cancelled IS NULL;
CREATE INDEX idx_reservation_details_id_hotel_id ON reservation_details (id, hotel_id);
CREATE INDEX idx_reservation_details_id_reservation_id ON reservation_details (id, reservation_id);
CREATE INDEX idx_reservation_details_res_id_date_billable
    ON reservation_details (reservation_id, date, billable);
CREATE INDEX idx_reservation_details_reservation_id_hotel_id
    ON reservation_details (reservation_id, hotel_id);
CREATE INDEX idx_reservation_details_reservation_id_hotel_id_id
    ON reservation_details (reservation_id, hotel_id, id);
CREATE UNIQUE INDEX reservation_details_active_unique_idx
    ON reservation_details (hotel_id, reservation_id, room_id, date) WHERE cancelled IS NULL;
CREATE INDEX reservation_details_cov_idx
    ON reservation_details (hotel_id, billable, date) INCLUDE (reservation_id, room_id, cancelled);
CREATE INDEX reservation_details_hotel_id_date_only
    ON reservation_details (hotel_id, date) INCLUDE (reservation_id, room_id, billable, cancelled);

CREATE TABLE reservation_addons (
    id uuid NOT NULL DEFAULT gen_random_uuid(),
    hotel_id integer NOT NULL REFERENCES hotels (id) ON DELETE CASCADE,
    reservation_detail_id uuid NOT NULL,
    addons_global_id integer REFERENCES addons_global (id),
    addons_hotel_id integer,
    addon_name text,
    addon_type text DEFAULT 'other'
        CHECK (addon_type IN ('breakfast', 'lunch', 'dinner', 'parking', 'other')),
    quantity integer NOT NULL DEFAULT 1,
    price numeric NOT NULL,
    tax_type_id integer REFERENCES tax_info (id),
    tax_rate numeric(12, 4),
    net_price numeric(12, 0) GENERATED ALWAYS AS (
        price - floor(price
            * CASE WHEN tax_rate > 1 THEN tax_rate / 100.0 ELSE coalesce(tax_rate, 0) END
            / (1 + CASE WHEN tax_rate > 1 THEN tax_rate / 100.0 ELSE coalesce(tax_rate, 0) END))
        ) STORED,
    sales_category text DEFAULT 'accommodation' CHECK (sales_category IN ('accommodation', 'other')),
    created_at timestamp DEFAULT CURRENT_TIMESTAMP,
    created_by integer REFERENCES users (id),
    updated_by integer REFERENCES users (id),
    PRIMARY KEY (hotel_id, id),
    FOREIGN KEY (reservation_detail_id, hotel_id) REFERENCES reservation_details (id, hotel_id)
        ON DELETE CASCADE,
    FOREIGN KEY (addons_hotel_id, hotel_id) REFERENCES addons_hotel (id, hotel_id)
) PARTITION BY LIST (hotel_id);
CREATE INDEX idx_addons_cov ON reservation_addons (hotel_id, reservation_detail_id)
    INCLUDE (sales_category, net_price, quantity);
CREATE INDEX idx_reservation_addons_hotel_res_detail_id
    ON reservation_addons (hotel_id, reservation_detail_id);
CREATE INDEX idx_reservation_addons_hotel_res_detail_id_global_hotel_addon_n
    ON reservation_addons (hotel_id, reservation_detail_id, addons_global_id, addons_hotel_id,
                           addon_name);
CREATE INDEX idx_reservation_addons_hotel_res_detail_id_quantity_price
    ON reservation_addons (hotel_id, reservation_detail_id, quantity, price);

CREATE TABLE reservation_rates (
    id uuid NOT NULL DEFAULT gen_random_uuid(),
    hotel_id integer NOT NULL REFERENCES hotels (id) ON DELETE CASCADE,
    reservation_details_id uuid NOT NULL,
    adjustment_type text DEFAULT 'base_rate'
        CHECK (adjustment_type IN ('base_rate', 'percentage', 'flat_fee')),
    adjustment_value numeric(10, 2) NOT NULL,
    include_in_cancel_fee boolean NOT NULL DEFAULT false,
    tax_type_id integer REFERENCES tax_info (id),
    tax_rate numeric(12, 4),
    price numeric(12, 0) NOT NULL,
    net_price numeric(12, 0) GENERATED ALWAYS AS (
        price - floor(price
            * CASE WHEN tax_rate > 1 THEN tax_rate / 100.0 ELSE coalesce(tax_rate, 0) END
            / (1 + CASE WHEN tax_rate > 1 THEN tax_rate / 100.0 ELSE coalesce(tax_rate, 0) END))
        ) STORED,
    sales_category text DEFAULT 'accommodation' CHECK (sales_category IN ('accommodation', 'other')),
    created_at timestamp DEFAULT CURRENT_TIMESTAMP,
    created_by integer REFERENCES users (id),
    updated_by integer REFERENCES users (id),
    PRIMARY KEY (hotel_id, id),
    FOREIGN KEY (reservation_details_id, hotel_id) REFERENCES reservation_details (id, hotel_id)
        ON DELETE CASCADE
) PARTITION BY LIST (hotel_id);
CREATE INDEX idx_rates_cov ON reservation_rates (hotel_id, reservation_details_id)
    INCLUDE (sales_category, net_price);
CREATE INDEX idx_reservation_rates_hotel_id_res_details_id
    ON reservation_rates (hotel_id, reservation_details_id);
CREATE INDEX idx_reservation_rates_res_detail_id_hotel_id_adj_type_price
    ON reservation_rates (reservation_details_id, hotel_id, adjustment_type, price);

CREATE TABLE reservation_clients (
    id uuid NOT NULL DEFAULT gen_random_uuid(),
    hotel_id integer NOT NULL REFERENCES hotels (id) ON DELETE CASCADE,
    reservation_details_id uuid NOT NULL,
    client_id uuid NOT NULL REFERENCES clients (id),
    created_at timestamp DEFAULT CURRENT_TIMESTAMP,
    created_by integer REFERENCES users (id),
    updated_by integer REFERENCES users (id),
    PRIMARY KEY (hotel_id, id),
    FOREIGN KEY (reservation_details_id, hotel_id) REFERENCES reservation_details (id, hotel_id)
        ON DELETE CASCADE
) PARTITION BY LIST (hotel_id);
CREATE INDEX idx_reservation_clients_hotel_id_client_id_reservation_details_
    ON reservation_clients (hotel_id, client_id, reservation_details_id);
CREATE INDEX idx_reservation_clients_res_details_id_client_id
    ON reservation_clients (reservation_details_id, client_id);
CREATE INDEX idx_reservation_clients_res_details_id_hotel_id_client_id_creat
    ON reservation_clients (reservation_details_id, hotel_id, client_id, created_at);

-- The global plans a hotel does not sell (api/migrations: hotel_plan_exclusions).
CREATE TABLE hotel_plan_exclusions (
    id SERIAL PRIMARY KEY,
    hotel_id integer NOT NULL REFERENCES hotels (id) ON DELETE CASCADE,
    global_plan_id integer NOT NULL REFERENCES plans_global (id) ON DELETE CASCADE,
    created_at timestamptz NOT NULL DEFAULT now(),
    updated_at timestamptz NOT NULL DEFAULT now(),
    UNIQUE (hotel_id, global_plan_id)
);
CREATE INDEX idx_hotel_plan_exclusions_hotel_id_global_plan_id
    ON hotel_plan_exclusions (hotel_id, global_plan_id);

-- The add-ons that come with a plan (breakfast and the like).
CREATE TABLE plan_addons (
    id SERIAL PRIMARY KEY,
    hotel_id integer REFERENCES hotels (id) ON DELETE CASCADE,
    plans_global_id integer REFERENCES plans_global (id) ON DELETE CASCADE,
    plans_hotel_id integer,
    addons_global_id integer REFERENCES addons_global (id) ON DELETE CASCADE,
    addons_hotel_id integer,
    addon_type text DEFAULT 'other'
        CHECK (addon_type IN ('breakfast', 'lunch', 'dinner', 'other')),
    price numeric(10, 2) NOT NULL,
    tax_type_id integer REFERENCES tax_info (id),
    tax_rate numeric(12, 4),
    net_price numeric(12, 0) GENERATED ALWAYS AS (
        price - floor(price
            * CASE WHEN tax_rate > 1 THEN tax_rate / 100.0 ELSE coalesce(tax_rate, 0) END
            / (1 + CASE WHEN tax_rate > 1 THEN tax_rate / 100.0 ELSE coalesce(tax_rate, 0) END))
    ) STORED,
    sales_category text DEFAULT 'accommodation' CHECK (sales_category IN ('accommodation', 'other')),
    date_start date NOT NULL,
    date_end date,
    created_at timestamp DEFAULT CURRENT_TIMESTAMP,
    created_by integer REFERENCES users (id),
    updated_by integer REFERENCES users (id),
    CONSTRAINT plan_addons_check CHECK (
        (plans_global_id IS NOT NULL AND plans_hotel_id IS NULL)
        OR (plans_global_id IS NULL AND plans_hotel_id IS NOT NULL)),
    CONSTRAINT plan_addons_check1 CHECK (
        (addons_global_id IS NOT NULL AND addons_hotel_id IS NULL)
        OR (addons_global_id IS NULL AND addons_hotel_id IS NOT NULL)),
    FOREIGN KEY (plans_hotel_id, hotel_id) REFERENCES plans_hotel (id, hotel_id) ON DELETE CASCADE,
    FOREIGN KEY (addons_hotel_id, hotel_id) REFERENCES addons_hotel (id, hotel_id)
        ON DELETE CASCADE
);
CREATE INDEX idx_plan_addons_global_plan_hotel_id ON plan_addons (plans_global_id, plans_hotel_id);
CREATE INDEX idx_plan_addons_hotel_plan_hotel_id_global_id
    ON plan_addons (plans_hotel_id, hotel_id, plans_global_id);

CREATE TABLE payment_types (
    id SERIAL PRIMARY KEY,
    hotel_id integer REFERENCES hotels (id) ON DELETE CASCADE,
    name text NOT NULL UNIQUE,
    description text,
    transaction text NOT NULL DEFAULT 'cash'
        CHECK (transaction IN ('cash', 'wire', 'credit', 'bill', 'point', 'discount')),
    visible boolean DEFAULT true,
    created_at timestamp DEFAULT CURRENT_TIMESTAMP,
    created_by integer REFERENCES users (id),
    updated_by integer REFERENCES users (id)
);
CREATE INDEX idx_payment_types_transaction_id ON payment_types (transaction, id);

-- Payments and discounts against a reservation (receipts and invoices, which the bridge
-- never writes, are left out with their foreign keys).
CREATE TABLE reservation_payments (
    id uuid NOT NULL DEFAULT gen_random_uuid(),
    hotel_id integer NOT NULL REFERENCES hotels (id) ON DELETE CASCADE,
    reservation_id uuid NOT NULL,
    date date NOT NULL,
    room_id integer,
    client_id uuid NOT NULL REFERENCES clients (id),
    payment_type_id integer NOT NULL REFERENCES payment_types (id),
    value numeric,
    comment text,
    invoice_id uuid,
    receipt_id uuid,
    created_at timestamp DEFAULT CURRENT_TIMESTAMP,
    created_by integer REFERENCES users (id),
    updated_by integer REFERENCES users (id),
    PRIMARY KEY (hotel_id, id),
    FOREIGN KEY (reservation_id, hotel_id) REFERENCES reservations (id, hotel_id)
        ON DELETE CASCADE
) PARTITION BY LIST (hotel_id);
CREATE INDEX idx_reservation_payments_client_id ON reservation_payments (client_id);
CREATE INDEX idx_reservation_payments_hotel_id_client_id_reservation_id
    ON reservation_payments (hotel_id, client_id, reservation_id);
CREATE INDEX idx_reservation_payments_hotel_id_res_id_room_id_date_client_id
    ON reservation_payments (hotel_id, reservation_id, room_id, date, client_id, value,
                             payment_type_id);
CREATE INDEX idx_reservation_payments_res_id_hotel_id ON reservation_payments (reservation_id, hotel_id);
CREATE INDEX idx_reservation_payments_res_id_payment_type_id
    ON reservation_payments (reservation_id, payment_type_id);

-- The PMS's audit log: one row per change of its tables, written by its own triggers.
CREATE TABLE logs_hotel (
    id SERIAL PRIMARY KEY,
    log_time timestamp DEFAULT CURRENT_TIMESTAMP,
    user_id integer,
    table_name text NOT NULL,
    action text NOT NULL,
    record_id integer NOT NULL,
    changes jsonb,
    ip_address inet
);
CREATE TABLE logs_hotel_plans (
    id SERIAL PRIMARY KEY,
    log_time timestamp DEFAULT CURRENT_TIMESTAMP,
    user_id integer,
    table_name text NOT NULL,
    action text NOT NULL,
    record_id integer NOT NULL,
    changes jsonb,
    ip_address inet
);
CREATE TABLE logs_hotel_addons (
    id SERIAL PRIMARY KEY,
    log_time timestamp DEFAULT CURRENT_TIMESTAMP,
    user_id integer,
    table_name text NOT NULL,
    action text NOT NULL,
    record_id integer NOT NULL,
    changes jsonb,
    ip_address inet
);
CREATE TABLE logs_user (
    id SERIAL PRIMARY KEY,
    log_time timestamp DEFAULT CURRENT_TIMESTAMP,
    user_id integer,
    table_name text NOT NULL,
    action text NOT NULL,
    record_id integer NOT NULL,
    changes jsonb,
    ip_address inet
);
CREATE TABLE logs_reservation (
    id SERIAL PRIMARY KEY,
    log_time timestamp DEFAULT CURRENT_TIMESTAMP,
    user_id integer,
    table_name text NOT NULL,
    action text NOT NULL,
    record_id uuid NOT NULL,
    changes jsonb,
    ip_address inet
);
CREATE INDEX idx_logs_reservation_record_id ON logs_reservation (record_id);
CREATE INDEX idx_logs_reservation_record_id_action ON logs_reservation (record_id, action);
CREATE TABLE logs_clients (
    id SERIAL PRIMARY KEY,
    log_time timestamp DEFAULT CURRENT_TIMESTAMP,
    user_id integer,
    table_name text NOT NULL,
    action text NOT NULL,
    record_id uuid NOT NULL,
    changes jsonb,
    ip_address inet
);

-- One function per log table, as the PMS has them: who (updated_by, else created_by), what
-- (the row, or old and new for an update), from where.
CREATE FUNCTION log_hotel_changes() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO logs_hotel (user_id, table_name, action, record_id, changes, ip_address)
    VALUES (COALESCE(NEW.updated_by, OLD.updated_by, NEW.created_by), TG_TABLE_NAME, TG_OP,
            COALESCE(NEW.id, OLD.id),
            CASE WHEN TG_OP = 'DELETE' THEN row_to_json(OLD)::jsonb
                 WHEN TG_OP = 'INSERT' THEN row_to_json(NEW)::jsonb
                 ELSE jsonb_build_object('old', row_to_json(OLD)::jsonb,
                                         'new', row_to_json(NEW)::jsonb) END,
            inet_client_addr());
    RETURN NEW;
END $$;

CREATE FUNCTION log_hotel_plans_changes() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO logs_hotel_plans (user_id, table_name, action, record_id, changes, ip_address)
    VALUES (COALESCE(NEW.updated_by, OLD.updated_by, NEW.created_by), TG_TABLE_NAME, TG_OP,
            COALESCE(NEW.id, OLD.id),
            CASE WHEN TG_OP = 'DELETE' THEN row_to_json(OLD)::jsonb
                 WHEN TG_OP = 'INSERT' THEN row_to_json(NEW)::jsonb
                 ELSE jsonb_build_object('old', row_to_json(OLD)::jsonb,
                                         'new', row_to_json(NEW)::jsonb) END,
            inet_client_addr());
    RETURN NEW;
END $$;

CREATE FUNCTION log_hotel_addons_changes() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO logs_hotel_addons (user_id, table_name, action, record_id, changes, ip_address)
    VALUES (COALESCE(NEW.updated_by, OLD.updated_by, NEW.created_by), TG_TABLE_NAME, TG_OP,
            COALESCE(NEW.id, OLD.id),
            CASE WHEN TG_OP = 'DELETE' THEN row_to_json(OLD)::jsonb
                 WHEN TG_OP = 'INSERT' THEN row_to_json(NEW)::jsonb
                 ELSE jsonb_build_object('old', row_to_json(OLD)::jsonb,
                                         'new', row_to_json(NEW)::jsonb) END,
            inet_client_addr());
    RETURN NEW;
END $$;

CREATE FUNCTION log_user_changes() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO logs_user (user_id, table_name, action, record_id, changes, ip_address)
    VALUES (COALESCE(NEW.updated_by, OLD.updated_by, NEW.created_by), TG_TABLE_NAME, TG_OP,
            COALESCE(NEW.id, OLD.id),
            CASE WHEN TG_OP = 'DELETE' THEN row_to_json(OLD)::jsonb
                 WHEN TG_OP = 'INSERT' THEN row_to_json(NEW)::jsonb
                 ELSE jsonb_build_object('old', row_to_json(OLD)::jsonb,
                                         'new', row_to_json(NEW)::jsonb) END,
            inet_client_addr());
    RETURN NEW;
END $$;

CREATE FUNCTION log_clients_changes() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO logs_clients (user_id, table_name, action, record_id, changes, ip_address)
    VALUES (COALESCE(NEW.updated_by, OLD.updated_by, NEW.created_by), TG_TABLE_NAME, TG_OP,
            COALESCE(NEW.id, OLD.id),
            CASE WHEN TG_OP = 'DELETE' THEN row_to_json(OLD)::jsonb
                 WHEN TG_OP = 'INSERT' THEN row_to_json(NEW)::jsonb
                 ELSE jsonb_build_object('old', row_to_json(OLD)::jsonb,
                                         'new', row_to_json(NEW)::jsonb) END,
            inet_client_addr());
    RETURN NEW;
END $$;

-- Reservation rows also NOTIFY the PMS's live screens, through a trigger on the log table.
CREATE FUNCTION log_reservations_changes() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    _user_id INT;
    _log_id INT;
BEGIN
    IF TG_OP = 'DELETE' OR NEW.updated_by IS NULL THEN
        _user_id := current_setting('my_app.user_id', true)::INT;
    END IF;
    INSERT INTO logs_reservation (user_id, table_name, action, record_id, changes, ip_address)
    VALUES (COALESCE(NEW.updated_by, NEW.created_by, _user_id), TG_TABLE_NAME, TG_OP,
            COALESCE(NEW.id, OLD.id),
            CASE WHEN TG_OP = 'DELETE' THEN row_to_json(OLD)::jsonb
                 WHEN TG_OP = 'INSERT' THEN row_to_json(NEW)::jsonb
                 ELSE jsonb_build_object('old', row_to_json(OLD)::jsonb,
                                         'new', row_to_json(NEW)::jsonb) END,
            inet_client_addr())
    RETURNING id INTO _log_id;
    PERFORM pg_notify('reservation_log_inserted', _log_id::text);
    RETURN NEW;
END $$;

CREATE FUNCTION notify_logs_reservation_changes() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    hotel_id_val INT;
BEGIN
    IF TG_OP = 'DELETE' THEN
        hotel_id_val := (OLD.changes->>'hotel_id')::INT;
    ELSIF TG_OP = 'UPDATE' THEN
        hotel_id_val := (NEW.changes->'new'->>'hotel_id')::INT;
    ELSE
        hotel_id_val := (NEW.changes->>'hotel_id')::INT;
    END IF;
    IF hotel_id_val IS NULL THEN
        RETURN NEW;
    END IF;
    PERFORM pg_notify('logs_reservation_changed', json_build_object(
        'table', TG_TABLE_NAME, 'action', TG_OP,
        'record_id', CASE WHEN TG_OP = 'DELETE' THEN OLD.id ELSE NEW.id END::text,
        'hotel_id', hotel_id_val)::text);
    RETURN NEW;
END $$;

CREATE FUNCTION update_total_rooms() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    current_hotel_id INT;
BEGIN
    IF TG_OP = 'DELETE' THEN
        current_hotel_id := OLD.hotel_id;
    ELSE
        current_hotel_id := NEW.hotel_id;
    END IF;
    UPDATE hotels
    SET total_rooms = (SELECT count(*) FROM rooms
                       WHERE hotel_id = current_hotel_id AND for_sale = TRUE)
    WHERE id = current_hotel_id;
    IF TG_OP = 'DELETE' THEN
        RETURN OLD;
    END IF;
    RETURN NEW;
END $$;

-- The rows the PMS's migrations seed (tax types, plan categories, roles, account states) and
-- its first administrator, user 1, whom its channel imports name as created_by; written
-- before the log triggers exist, as the PMS's migrations do (user_roles has no created_by,
-- which its log function reads).
INSERT INTO user_roles (id, role_name, description) VALUES
    (1, 'admin', 'full access'), (2, 'manager', 'manages users'), (3, 'editor', 'edits clients'),
    (4, 'user', 'adds and edits data'), (5, 'viewer', 'reads reports');
INSERT INTO user_status (id, status_name, description) VALUES
    (1, 'active', 'active account'), (2, 'inactive', 'inactive account');
SELECT setval('user_roles_id_seq', 5), setval('user_status_id_seq', 2);
INSERT INTO users (id, email, name, password_hash, status_id, role_id)
VALUES (1, 'admin@example.test', 'Administrator', 'not-a-login', 1, 1);
SELECT setval('users_id_seq', 1);
INSERT INTO tax_info (id, name, percentage, created_by) VALUES
    (1, 'tax exempt', 0.0000, 1), (2, 'taxed 8%', 0.0800, 1), (3, 'taxed 10%', 0.1000, 1);
INSERT INTO payment_types (id, name, transaction, created_by) VALUES
    (1, '現金', 'cash', 1), (2, 'ネットポイント', 'point', 1), (3, '事前振り込み', 'wire', 1),
    (4, 'クレジットカード', 'credit', 1), (5, '請求書', 'bill', 1), (6, '割引', 'discount', 1);
INSERT INTO plan_type_categories (id, name, created_by) VALUES
    (0, 'unset', 1), (1, 'room only', 1), (2, 'one meal', 1), (3, 'two meals', 1),
    (4, 'three meals', 1), (5, 'luggage keep', 1);
INSERT INTO plan_package_categories (id, name, description, created_by) VALUES
    (0, 'unset', NULL, 1), (1, 'standard', 'standard package', 1),
    (2, 'monthly', 'monthly package', 1);
SELECT setval('tax_info_id_seq', 3), setval('payment_types_id_seq', 6),
       setval('plan_type_categories_id_seq', 5),
       setval('plan_package_categories_id_seq', 2);

CREATE TRIGGER log_users_trigger AFTER INSERT OR DELETE OR UPDATE ON users
    FOR EACH ROW EXECUTE FUNCTION log_user_changes();
CREATE TRIGGER log_user_roles_trigger AFTER INSERT OR DELETE OR UPDATE ON user_roles
    FOR EACH ROW EXECUTE FUNCTION log_user_changes();
CREATE TRIGGER log_user_status_trigger AFTER INSERT OR DELETE OR UPDATE ON user_status
    FOR EACH ROW EXECUTE FUNCTION log_user_changes();
CREATE TRIGGER log_hotels_trigger AFTER INSERT OR DELETE OR UPDATE ON hotels
    FOR EACH ROW EXECUTE FUNCTION log_hotel_changes();
CREATE TRIGGER log_room_types_trigger AFTER INSERT OR DELETE OR UPDATE ON room_types
    FOR EACH ROW EXECUTE FUNCTION log_hotel_changes();
CREATE TRIGGER log_rooms_trigger AFTER INSERT OR DELETE OR UPDATE ON rooms
    FOR EACH ROW EXECUTE FUNCTION log_hotel_changes();
CREATE TRIGGER update_total_rooms_trigger AFTER INSERT OR DELETE OR UPDATE ON rooms
    FOR EACH ROW EXECUTE FUNCTION update_total_rooms();
CREATE TRIGGER log_clients_trigger AFTER INSERT OR DELETE OR UPDATE ON clients
    FOR EACH ROW EXECUTE FUNCTION log_clients_changes();
CREATE TRIGGER log_plans_global_trigger AFTER INSERT OR DELETE OR UPDATE ON plans_global
    FOR EACH ROW EXECUTE FUNCTION log_hotel_plans_changes();
CREATE TRIGGER log_plans_hotel_trigger AFTER INSERT OR DELETE OR UPDATE ON plans_hotel
    FOR EACH ROW EXECUTE FUNCTION log_hotel_plans_changes();
CREATE TRIGGER log_plans_rates_trigger AFTER INSERT OR DELETE OR UPDATE ON plans_rates
    FOR EACH ROW EXECUTE FUNCTION log_hotel_plans_changes();
CREATE TRIGGER log_addons_global_trigger AFTER INSERT OR DELETE OR UPDATE ON addons_global
    FOR EACH ROW EXECUTE FUNCTION log_hotel_addons_changes();
CREATE TRIGGER log_addons_hotel_trigger AFTER INSERT OR DELETE OR UPDATE ON addons_hotel
    FOR EACH ROW EXECUTE FUNCTION log_hotel_addons_changes();
CREATE TRIGGER log_reservations_trigger AFTER INSERT OR DELETE OR UPDATE ON reservations
    FOR EACH ROW EXECUTE FUNCTION log_reservations_changes();
CREATE TRIGGER log_reservation_details_trigger
    AFTER INSERT OR DELETE OR UPDATE ON reservation_details
    FOR EACH ROW EXECUTE FUNCTION log_reservations_changes();
CREATE TRIGGER log_reservation_addons_trigger
    AFTER INSERT OR DELETE OR UPDATE ON reservation_addons
    FOR EACH ROW EXECUTE FUNCTION log_reservations_changes();
CREATE TRIGGER log_reservation_rates_trigger AFTER INSERT OR DELETE OR UPDATE ON reservation_rates
    FOR EACH ROW EXECUTE FUNCTION log_reservations_changes();
CREATE TRIGGER log_reservation_clients_trigger
    AFTER INSERT OR DELETE OR UPDATE ON reservation_clients
    FOR EACH ROW EXECUTE FUNCTION log_reservations_changes();
CREATE TRIGGER log_reservation_payments_trigger
    AFTER INSERT OR DELETE OR UPDATE ON reservation_payments
    FOR EACH ROW EXECUTE FUNCTION log_reservations_changes();
CREATE TRIGGER log_plan_addons_trigger AFTER INSERT OR DELETE OR UPDATE ON plan_addons
    FOR EACH ROW EXECUTE FUNCTION log_hotel_plans_changes();
CREATE TRIGGER logs_reservation_changes_notification_trigger
    AFTER INSERT OR DELETE OR UPDATE ON logs_reservation
    FOR EACH ROW EXECUTE FUNCTION notify_logs_reservation_changes();
