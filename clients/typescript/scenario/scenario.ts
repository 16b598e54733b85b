/**
 * The booking engine's round trip against a live `pms-bridge run`, as tests/integration/api/
 * test_typescript_client.py drives it: prints one JSON line of what each step saw.
 */
import {
  ApiError,
  createBookingClient,
  idempotencyKey,
  verifyWebhook,
  WebhookVerificationError,
} from "../src/index.js";

function env(name: string): string {
  const value = process.env[name];
  if (value === undefined || value === "") throw new Error(`set ${name}`);
  return value;
}

function plusDays(day: string, days: number): string {
  const d = new Date(`${day}T00:00:00Z`);
  d.setUTCDate(d.getUTCDate() + days);
  return d.toISOString().slice(0, 10);
}

async function main(): Promise<void> {
  const hotelId = Number(env("SCENARIO_HOTEL_ID"));
  const roomTypeId = Number(env("SCENARIO_ROOM_TYPE_ID"));
  const checkIn = env("SCENARIO_CHECK_IN");
  const checkOut = plusDays(checkIn, 2);
  const baseUrl = env("SCENARIO_BASE_URL");
  const apiKey = env("SCENARIO_API_KEY");
  const { api, session } = createBookingClient({ baseUrl, apiKey });
  if (session === null) throw new Error("the default client uses tokens");

  const availability = await api.GET("/api/booking-engine/availability/{hotel_id}", {
    params: {
      path: { hotel_id: hotelId },
      query: { start_date: checkIn, end_date: checkOut, room_type_id: roomTypeId },
    },
  });
  if (availability.data === undefined) {
    throw new ApiError(availability.response.status, availability.error);
  }
  const nights = availability.data.room_types.flatMap((t) => t.nights);
  const availableBefore = Math.min(...nights.map((n) => n.available));

  const pricing = await api.GET("/api/booking-engine/hotels/{hotel_id}/pricing", {
    params: { path: { hotel_id: hotelId }, query: { start_date: checkIn, end_date: checkOut } },
  });
  if (pricing.data === undefined) throw new ApiError(pricing.response.status, pricing.error);
  const plan = pricing.data.plans.find((p) => p.nights.length === 2);
  if (plan === undefined) throw new Error("no plan is priced for both nights");

  const key = idempotencyKey();
  const body = {
    hotel_id: hotelId,
    room_type_id: roomTypeId,
    check_in: checkIn,
    check_out: checkOut,
    guests: 1,
    guest: { name: "Grace Hopper", email: "grace@example.test" },
    plan_key: plan.plan_key,
    booking_engine_id: `ts-${key}`,
  };
  const created = await api.POST("/api/booking-engine/bookings", {
    params: { header: { "Idempotency-Key": key } },
    body,
  });
  if (created.data === undefined) throw new ApiError(created.response.status, created.error);
  const retried = await api.POST("/api/booking-engine/bookings", {
    params: { header: { "Idempotency-Key": key } },
    body,
  });
  if (retried.data === undefined) throw new ApiError(retried.response.status, retried.error);
  const bookingId = created.data.booking_id;
  const path = { booking_id: bookingId };

  const read = await api.GET("/api/booking-engine/bookings/{booking_id}", { params: { path } });
  if (read.data === undefined) throw new ApiError(read.response.status, read.error);

  const changed = await api.PUT("/api/booking-engine/bookings/{booking_id}", {
    params: { path },
    body: { check_out: plusDays(checkOut, 1), comment: "late arrival" },
  });
  if (changed.data === undefined) throw new ApiError(changed.response.status, changed.error);

  const before = await session.accessToken();
  const rotated = await session.refresh();
  // Concurrent renewals share one: a refresh token spent twice would revoke its family.
  const together = await Promise.all([session.refresh(), session.refresh(), session.refresh()]);
  const afterRefresh = await api.GET("/api/booking-engine/bookings/{booking_id}", {
    params: { path },
  });
  const validated = await api.POST("/api/booking-engine/auth/validate-token", {
    body: { token: rotated },
  });

  const cancelled = await api.DELETE("/api/booking-engine/bookings/{booking_id}", {
    params: { path, query: { fee_nights: 0 } },
  });
  if (cancelled.data === undefined) throw new ApiError(cancelled.response.status, cancelled.error);

  const missing = await api.GET("/api/booking-engine/bookings/{booking_id}", {
    params: { path: { booking_id: "00000000-0000-4000-8000-000000000000" } },
  });

  // A token always within its renewal margin: every call rotates the tokens first.
  const eager = createBookingClient({ baseUrl, apiKey, refreshMarginSeconds: 900 });
  const eagerReads: number[] = [];
  for (let n = 0; n < 3; n += 1) {
    eagerReads.push((await eager.api.GET("/api/booking-engine/hotels")).response.status);
  }
  const byKey = createBookingClient({ baseUrl, apiKey, auth: "api-key" });
  const keyRead = await byKey.api.GET("/api/booking-engine/bookings/{booking_id}", {
    params: { path },
  });

  const secret = env("SCENARIO_WEBHOOK_SECRET");
  const delivered = env("SCENARIO_WEBHOOK_BODY");
  const headers = new Headers({
    "webhook-id": env("SCENARIO_WEBHOOK_ID"),
    "webhook-timestamp": env("SCENARIO_WEBHOOK_TIMESTAMP"),
    "webhook-signature": env("SCENARIO_WEBHOOK_SIGNATURE"),
  });
  const event = verifyWebhook(secret, delivered, headers);
  let tamperedRefused = false;
  try {
    verifyWebhook(secret, delivered.replace("created", "updated"), headers);
  } catch (error) {
    tamperedRefused = error instanceof WebhookVerificationError;
  }

  const result = {
    available_before: availableBefore,
    plan_key: plan.plan_key,
    price: plan.nights[0]?.price ?? null,
    created: { status: created.response.status, booking_id: bookingId },
    retried: {
      status: retried.response.status,
      booking_id: retried.data.booking_id,
      same_answer: JSON.stringify(retried.data) === JSON.stringify(created.data),
    },
    read: { status: read.data.status, nights: read.data.nights.length, total: read.data.total_price },
    changed: {
      check_out: changed.data.check_out,
      nights: changed.data.nights.length,
      comment: changed.data.comment,
    },
    refresh: {
      rotations: session.rotations,
      new_token: rotated !== before,
      shared: together.every((token) => token === together[0]) && together[0] !== rotated,
      read_status: afterRefresh.response.status,
      valid: validated.data?.valid ?? false,
      via: validated.data?.identity.authenticated_with ?? null,
    },
    eager: { reads: eagerReads, rotations: eager.session?.rotations ?? null },
    api_key: { read_status: keyRead.response.status, session: byKey.session === null },
    cancelled: { status: cancelled.data.status },
    missing: { status: missing.response.status, error: missing.error?.error ?? null },
    rate_limit: created.response.headers.get("RateLimit-Limit"),
    webhook: { operation: event.operation, booking_id: event.reservation.id, tamperedRefused },
  };
  console.log(JSON.stringify(result));
}

main().catch((error: unknown) => {
  console.error(error);
  process.exitCode = 1;
});
