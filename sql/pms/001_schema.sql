-- The subset of the PMS schema the bridge reads, as the PMS really has it (see PMS_SCHEMA.md):
-- hotel-scoped tables LIST-partitioned by hotel_id with one partition per hotel made at run
-- time, composite keys (hotel_id, id), UUID reservation ids, TIMESTAMP without time zone, and
-- the PMS's own AFTER row triggers that the bridge's capture has to live beside.

CREATE TABLE hotels (
    id SERIAL PRIMARY KEY,
    formal_name TEXT,
    name TEXT NOT NULL,
    facility_type TEXT,
    open_date DATE,
    total_rooms INT DEFAULT 0,
    postal_code TEXT,
    address TEXT,
    email TEXT,
    phone_number TEXT,
    latitude DECIMAL(9, 6),
    longitude DECIMAL(9, 6),
    sort_order INT DEFAULT 0,
    created_at TIMESTAMP DEFAULT CURRENT_TIMESTAMP
);

CREATE TABLE room_types (
    id SERIAL,
    hotel_id INT NOT NULL REFERENCES hotels (id) ON DELETE CASCADE,
    name TEXT NOT NULL,
    description TEXT,
    created_at TIMESTAMP DEFAULT CURRENT_TIMESTAMP,
    PRIMARY KEY (hotel_id, id),
    UNIQUE (hotel_id, name)
) PARTITION BY LIST (hotel_id);

CREATE TABLE rooms (
    id SERIAL,
    hotel_id INT NOT NULL REFERENCES hotels (id) ON DELETE CASCADE,
    room_type_id INT NOT NULL,
    floor INT DEFAULT 1,
    room_number TEXT NOT NULL,
    capacity INT DEFAULT 2,
    smoking BOOLEAN DEFAULT false,
    has_wet_area BOOLEAN DEFAULT true,
    for_sale BOOLEAN DEFAULT true,
    is_staff_room BOOLEAN DEFAULT false,
    assignment_priority INT,
    created_at TIMESTAMP DEFAULT CURRENT_TIMESTAMP,
    PRIMARY KEY (hotel_id, id),
    FOREIGN KEY (room_type_id, hotel_id) REFERENCES room_types (id, hotel_id)
) PARTITION BY LIST (hotel_id);

CREATE TABLE clients (
    id UUID PRIMARY KEY DEFAULT gen_random_uuid(),
    name TEXT NOT NULL,
    name_kana TEXT,
    name_kanji TEXT,
    legal_or_natural_person TEXT DEFAULT 'natural'
        CHECK (legal_or_natural_person IN ('legal', 'natural')),
    gender TEXT DEFAULT 'other' CHECK (gender IN ('male', 'female', 'other')),
    email TEXT,
    phone TEXT,
    created_at TIMESTAMP DEFAULT CURRENT_TIMESTAMP
);

CREATE TABLE reservations (
    id UUID DEFAULT gen_random_uuid(),
    hotel_id INT NOT NULL REFERENCES hotels (id) ON DELETE CASCADE,
    reservation_client_id UUID NOT NULL REFERENCES clients (id),
    check_in DATE NOT NULL,
    check_out DATE NOT NULL,
    number_of_people INT NOT NULL DEFAULT 1,
    status TEXT NOT NULL DEFAULT 'hold' CHECK (status IN (
        'hold', 'provisory', 'confirmed', 'checked_in', 'checked_out', 'cancelled', 'block')),
    type TEXT NOT NULL DEFAULT 'default' CHECK (type IN ('default', 'employee', 'ota', 'web')),
    agent TEXT,
    ota_reservation_id TEXT,
    payment_timing TEXT DEFAULT 'not_set'
        CHECK (payment_timing IN ('not_set', 'prepaid', 'on-site', 'postpaid')),
    comment TEXT,
    created_at TIMESTAMP DEFAULT CURRENT_TIMESTAMP,
    updated_at TIMESTAMP DEFAULT CURRENT_TIMESTAMP,
    PRIMARY KEY (hotel_id, id)
) PARTITION BY LIST (hotel_id);

CREATE TABLE plans_hotel (
    id SERIAL,
    hotel_id INT NOT NULL REFERENCES hotels (id) ON DELETE CASCADE,
    plans_global_id INT,
    name TEXT NOT NULL,
    description TEXT,
    plan_type TEXT DEFAULT 'per_room' CHECK (plan_type IN ('per_person', 'per_room')),
    color TEXT,
    display_order INT DEFAULT 0,
    is_active BOOLEAN DEFAULT true,
    available_from DATE,
    available_until DATE,
    created_at TIMESTAMP DEFAULT CURRENT_TIMESTAMP,
    PRIMARY KEY (hotel_id, id)
) PARTITION BY LIST (hotel_id);

CREATE TABLE reservation_details (
    id UUID DEFAULT gen_random_uuid(),
    hotel_id INT NOT NULL REFERENCES hotels (id) ON DELETE CASCADE,
    reservation_id UUID NOT NULL,
    date DATE NOT NULL,
    room_id INT,
    plans_hotel_id INT,
    plans_global_id INT,
    plan_name TEXT,
    plan_type TEXT DEFAULT 'per_room' CHECK (plan_type IN ('per_person', 'per_room')),
    number_of_people INT NOT NULL DEFAULT 1,
    price DECIMAL(12, 2) DEFAULT 0,
    cancelled UUID,
    billable BOOLEAN DEFAULT true,
    is_accommodation BOOLEAN DEFAULT true,
    created_at TIMESTAMP DEFAULT CURRENT_TIMESTAMP,
    PRIMARY KEY (hotel_id, id),
    FOREIGN KEY (reservation_id, hotel_id) REFERENCES reservations (id, hotel_id)
        ON DELETE CASCADE,
    FOREIGN KEY (room_id, hotel_id) REFERENCES rooms (id, hotel_id)
) PARTITION BY LIST (hotel_id);

CREATE INDEX reservation_details_night_idx ON reservation_details (hotel_id, date, room_id);
CREATE INDEX reservation_details_reservation_idx ON reservation_details (hotel_id, reservation_id);
CREATE INDEX rooms_type_idx ON rooms (hotel_id, room_type_id);

CREATE TABLE plans_rates (
    id SERIAL PRIMARY KEY,
    hotel_id INT REFERENCES hotels (id) ON DELETE CASCADE,
    plans_global_id INT,
    plans_hotel_id INT,
    adjustment_type TEXT NOT NULL CHECK (adjustment_type IN ('base_rate', 'percentage', 'flat_fee')),
    adjustment_value DECIMAL(10, 2) NOT NULL,
    tax_rate DECIMAL(5, 4) DEFAULT 0.10,
    condition_type TEXT NOT NULL DEFAULT 'no_restriction'
        CHECK (condition_type IN ('no_restriction', 'day_of_week', 'month')),
    condition_value TEXT,
    date_start DATE NOT NULL,
    date_end DATE,
    created_at TIMESTAMP DEFAULT CURRENT_TIMESTAMP
);

-- The PMS's own audit logging and notifications, which capture has to coexist with.
CREATE TABLE logs_reservation (
    id BIGSERIAL PRIMARY KEY,
    log_time TIMESTAMP DEFAULT CURRENT_TIMESTAMP,
    reservation_id UUID,
    hotel_id INT,
    action TEXT,
    changes JSONB
);

CREATE FUNCTION pms_log_reservation_changes() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'DELETE' THEN
        INSERT INTO logs_reservation (reservation_id, hotel_id, action, changes)
        VALUES (OLD.id, OLD.hotel_id, TG_OP, to_jsonb(OLD));
        PERFORM pg_notify('logs_reservation_changed', OLD.id::text);
        RETURN OLD;
    END IF;
    INSERT INTO logs_reservation (reservation_id, hotel_id, action, changes)
    VALUES (NEW.id, NEW.hotel_id, TG_OP, to_jsonb(NEW));
    PERFORM pg_notify('logs_reservation_changed', NEW.id::text);
    RETURN NEW;
END $$;

CREATE TRIGGER log_reservations_trigger AFTER INSERT OR UPDATE OR DELETE ON reservations
    FOR EACH ROW EXECUTE FUNCTION pms_log_reservation_changes();

CREATE FUNCTION pms_update_total_rooms() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    target INT := COALESCE(NEW.hotel_id, OLD.hotel_id);
BEGIN
    UPDATE hotels SET total_rooms = (SELECT count(*) FROM rooms WHERE hotel_id = target)
    WHERE id = target;
    RETURN NULL;
END $$;

CREATE TRIGGER rooms_total_rooms_trigger AFTER INSERT OR DELETE ON rooms
    FOR EACH ROW EXECUTE FUNCTION pms_update_total_rooms();

-- The PMS creates a hotel's partitions when the hotel is added; the demo and tests do the same.
CREATE FUNCTION pms_create_hotel_partitions(p_hotel_id INT) RETURNS void LANGUAGE plpgsql AS $$
DECLARE
    t TEXT;
BEGIN
    FOREACH t IN ARRAY ARRAY['room_types', 'rooms', 'reservations', 'plans_hotel',
                             'reservation_details'] LOOP
        EXECUTE format('CREATE TABLE IF NOT EXISTS %I PARTITION OF %I FOR VALUES IN (%s)',
                       t || '_' || p_hotel_id, t, p_hotel_id);
    END LOOP;
END $$;
