/** Verifies the bridge's webhook deliveries the Standard Webhooks way and types their body. */
import { Webhook, WebhookVerificationError } from "standardwebhooks";

export { WebhookVerificationError };

export interface WebhookNight {
  date: string;
  room_id: number | null;
  room_type_id: number | null;
  plans_hotel_id: number | null;
  plans_global_id: number | null;
  plan_name: string | null;
  plan_type: string | null;
  number_of_people: number;
  price: number;
  billable: boolean;
  cancelled: boolean;
}

export interface WebhookReservation {
  id: string;
  hotel_id: number;
  booking_engine_id: string | null;
  status?: string;
  check_in?: string;
  check_out?: string;
  nights: WebhookNight[];
  [field: string]: unknown;
}

/** One delivery's body (docs/delivery.md). */
export interface WebhookEvent {
  event_id: string;
  type: string;
  operation: "created" | "updated" | "cancelled" | "deleted";
  hotel_id: number;
  occurred_at: string;
  reservation: WebhookReservation;
}

const OPERATIONS: ReadonlySet<unknown> = new Set(["created", "updated", "cancelled", "deleted"]);

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

function isReservation(value: unknown): value is WebhookReservation {
  return (
    isRecord(value) &&
    typeof value.id === "string" &&
    typeof value.hotel_id === "number" &&
    Array.isArray(value.nights)
  );
}

export function isWebhookEvent(value: unknown): value is WebhookEvent {
  return (
    isRecord(value) &&
    typeof value.event_id === "string" &&
    typeof value.type === "string" &&
    OPERATIONS.has(value.operation) &&
    typeof value.hotel_id === "number" &&
    typeof value.occurred_at === "string" &&
    isReservation(value.reservation)
  );
}

/** The headers a delivery is signed with, from a Fetch API Headers or a plain record. */
function signed(headers: Headers | Record<string, string | undefined>): Record<string, string> {
  const names = ["webhook-id", "webhook-timestamp", "webhook-signature"];
  const found: Record<string, string> = {};
  for (const name of names) {
    const value = headers instanceof Headers ? headers.get(name) : headers[name];
    if (typeof value === "string") found[name] = value;
  }
  return found;
}

/**
 * The event of a delivery whose signature verifies with the hotel's secret ("whsec_…"), sent
 * within the last five minutes; otherwise WebhookVerificationError. Pass the raw body, as
 * received: a body parsed and encoded again no longer matches its signature.
 */
export function verifyWebhook(
  secret: string,
  rawBody: string,
  headers: Headers | Record<string, string | undefined>,
): WebhookEvent {
  const payload = new Webhook(secret).verify(rawBody, signed(headers));
  if (!isWebhookEvent(payload)) {
    throw new WebhookVerificationError("the body is not a PMS Bridge webhook event");
  }
  return payload;
}
