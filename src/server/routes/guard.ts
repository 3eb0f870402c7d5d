// The token check in front of every API route: a route of the table with scopes needs a token
// (bearer header or the dashboard's session cookie) whose scope the route allows; the token's
// record is kept on the request for the handlers (a runner token's run, whoami).

import type { FastifyRequest } from "fastify";
import type { TokenRecord, TokenScope } from "../../store/store.ts";
import { ApiCode, ApiError } from "../api-error.ts";
import { requestToken } from "../auth.ts";
import { checkRunToken } from "./run-token.ts";
import { type RouteInfo, SESSION_COOKIE } from "./table.ts";

declare module "fastify" {
  interface FastifyRequest {
    token?: TokenRecord;
  }
}

/** The token's record when the token is valid. */
export type Authenticate = (token: string) => Promise<TokenRecord | undefined>;

/** The preHandler of `route`: 401 without a valid token, 403 when its scope is not allowed. */
export const guard =
  (route: RouteInfo, authenticate: Authenticate) =>
  async (req: FastifyRequest): Promise<void> => {
    if (route.scopes.length === 0) return;
    const token = requestToken(req.headers, SESSION_COOKIE);
    if (token === undefined) {
      throw new ApiError(
        401,
        ApiCode.Unauthorized,
        "this API needs a token",
        "send Authorization: Bearer <token> (flotilla tokens create, or the admin token in the Flotilla home)",
      );
    }
    const record = await authenticate(token);
    if (record === undefined)
      throw new ApiError(
        401,
        ApiCode.Unauthorized,
        "the token is not valid",
        "create one with flotilla tokens create",
      );
    if (!(route.scopes as readonly TokenScope[]).includes(record.scope)) {
      throw new ApiError(
        403,
        ApiCode.Forbidden,
        `a ${record.scope} token may not ${route.method} ${route.path}`,
        `use a token of scope ${route.scopes.join(" or ")}`,
      );
    }
    // a run's own token reports that run and nothing else
    checkRunToken(route, record, req.params);
    req.token = record;
  };
