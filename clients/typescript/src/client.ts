/** The booking engine's typed client: openapi-fetch over the generated types, with credentials. */
import createClient, { type Client, type Middleware } from "openapi-fetch";

import type { components, paths } from "./schema.js";

export type Schemas = components["schemas"];
export type ErrorBody = Schemas["ErrorBody"];
export type TokenResponse = Schemas["TokenResponse"];

/** An answer other than the one asked for: its status and the API's {"error", "detail"}. */
export class ApiError extends Error {
  readonly status: number;
  readonly body: ErrorBody | undefined;

  constructor(status: number, body: ErrorBody | undefined) {
    super(`${status} ${body?.error ?? "error"}: ${describe(body?.detail)}`);
    this.name = "ApiError";
    this.status = status;
    this.body = body;
  }
}

function describe(detail: ErrorBody["detail"] | undefined): string {
  if (detail === undefined || detail === null) return "";
  if (typeof detail === "string") return detail;
  if (Array.isArray(detail)) return detail.map((f) => `${f.key}: ${f.message}`).join("; ");
  return detail.message;
}

export interface ClientOptions {
  /** Where `pms-bridge run` listens, e.g. "https://bridge.example.com" (no trailing path). */
  baseUrl: string;
  /** The hotel's API key, pmsb_…: sent as is ("api-key"), or exchanged for tokens ("jwt"). */
  apiKey: string;
  /** "jwt" (the default): short-lived access tokens, refreshed before they expire. */
  auth?: "jwt" | "api-key";
  /** Seconds before an access token's expiry at which it is renewed (default 60). */
  refreshMarginSeconds?: number;
  fetch?: typeof globalThis.fetch;
}

/**
 * Access tokens for one API key. A refresh token works once (a second use revokes its whole
 * family), so renewals are single-flight: concurrent calls share one. A family that has
 * ended or was revoked starts over from the API key.
 */
export class TokenSession {
  private access: { token: string; expiresAt: number } | undefined;
  private refreshToken: string | undefined;
  private pending: Promise<string> | undefined;
  /** How many times the tokens were rotated with a refresh token. */
  rotations = 0;

  constructor(
    private readonly tokens: Client<paths>,
    private readonly apiKey: string,
    private readonly marginSeconds: number = 60,
  ) {}

  /** A valid access token: the current one, or a renewed one when it is about to expire. */
  async accessToken(): Promise<string> {
    const now = Date.now();
    if (this.access !== undefined && now < this.access.expiresAt - this.marginSeconds * 1000) {
      return this.access.token;
    }
    return this.renew();
  }

  /** Rotates the tokens now (the refresh token is spent, a new pair kept). */
  async refresh(): Promise<string> {
    return this.renew();
  }

  /** Drops the access token, e.g. after the API refused it; the next call renews it. */
  forget(): void {
    this.access = undefined;
  }

  private renew(): Promise<string> {
    this.pending ??= this.exchange().finally(() => {
      this.pending = undefined;
    });
    return this.pending;
  }

  private async exchange(): Promise<string> {
    if (this.refreshToken !== undefined) {
      const spent = this.refreshToken;
      this.refreshToken = undefined;
      const { data, error, response } = await this.tokens.POST("/api/booking-engine/auth/token", {
        body: { grant_type: "refresh_token", refresh_token: spent },
      });
      if (data !== undefined) {
        this.rotations += 1;
        return this.keep(data);
      }
      // 401: the family ended or was revoked; the API key starts a new one.
      if (response.status !== 401) throw new ApiError(response.status, error);
    }
    const { data, error, response } = await this.tokens.POST("/api/booking-engine/auth/token", {
      body: { grant_type: "api_key", api_key: this.apiKey },
    });
    if (data === undefined) throw new ApiError(response.status, error);
    return this.keep(data);
  }

  private keep(answer: TokenResponse): string {
    this.access = { token: answer.access_token, expiresAt: Date.now() + answer.expires_in * 1000 };
    this.refreshToken = answer.refresh_token;
    return answer.access_token;
  }
}

export interface BookingClient {
  /** Every operation of the document, typed: api.GET("/api/booking-engine/…", {...}). */
  api: Client<paths>;
  /** The token session with auth "jwt", else null. */
  session: TokenSession | null;
}

/** A client that sends the API key, or access tokens it renews itself, with every call. */
export function createBookingClient(options: ClientOptions): BookingClient {
  const base = { baseUrl: options.baseUrl, fetch: options.fetch ?? globalThis.fetch };
  const api = createClient<paths>(base);
  if (options.auth === "api-key") {
    const apiKey = options.apiKey;
    api.use({
      onRequest({ request }) {
        request.headers.set("Authorization", `Bearer ${apiKey}`);
        return request;
      },
    });
    return { api, session: null };
  }
  const session = new TokenSession(
    createClient<paths>(base),
    options.apiKey,
    options.refreshMarginSeconds,
  );
  const bearer: Middleware = {
    async onRequest({ request }) {
      request.headers.set("Authorization", `Bearer ${await session.accessToken()}`);
      return request;
    },
    onResponse({ response }) {
      // A token the API no longer takes (its secret changed): the next call gets a new one.
      if (response.status === 401) session.forget();
      return response;
    },
  };
  api.use(bearer);
  return { api, session };
}

/** A fresh Idempotency-Key for a booking: send the same one again when retrying it. */
export function idempotencyKey(): string {
  return globalThis.crypto.randomUUID();
}
