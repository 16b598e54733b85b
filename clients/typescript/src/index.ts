/** PMS Bridge's booking-engine client: typed calls, credentials, webhook verification. */
export {
  ApiError,
  type BookingClient,
  type ClientOptions,
  createBookingClient,
  type ErrorBody,
  idempotencyKey,
  type Schemas,
  TokenSession,
} from "./client.js";
export type { components, operations, paths } from "./schema.js";
export {
  isWebhookEvent,
  verifyWebhook,
  type WebhookEvent,
  type WebhookNight,
  type WebhookReservation,
  WebhookVerificationError,
} from "./webhooks.js";
