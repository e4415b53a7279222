/**
 * The refresh decision of BEHAVIOUR.md §6 as one pure function: no I/O, no
 * clock, no framework. `Sessions` reads the state under the session's lock,
 * asks this function, and writes what it says.
 *
 * A session's refresh state is three numbers and two dates:
 * - `generation`: the generation of the one token that rotates now (T);
 * - `rotatedAt`: when generation - 1 was exchanged for it (null: never, or
 *   not since a password change);
 * - `retiredBelow`: tokens of a lower generation were retired by a password
 *   change or reset (§6.6);
 * - `lastUsedAt` (idle lifetime) and `expiresAt` (absolute end), plus
 *   `endedAt` once the session has ended.
 */
export interface RefreshState {
  generation: number;
  rotatedAt: Date | null;
  retiredBelow: number;
  lastUsedAt: Date;
  expiresAt: Date;
  endedAt: Date | null;
}

/** What the presented token says of itself, once its proof has been checked. */
export interface PresentedGeneration {
  generation: number;
  /** The proof is the one this server makes for that session and generation. */
  authentic: boolean;
}

export interface RefreshPolicy {
  /** Idle lifetime, seconds: the current token dies this long after the last exchange. */
  refreshTokenTtl: number;
  /** Seconds after an exchange during which the exchanged token may come back (§6.3). */
  reuseGrace: number;
}

export type InvalidReason =
  /** Not made by this server: wrong proof, unknown key, or a generation never issued. */
  | "FORGED"
  /** The session ended (logout, revocation, theft, password change elsewhere). */
  | "ENDED"
  /** Past the session's absolute end. */
  | "EXPIRED"
  /** Not refreshed within the idle lifetime. */
  | "IDLE";

export type RefreshDecision =
  /** T is current: issue generation + 1 and record the exchange. */
  | { outcome: "rotate"; generation: number }
  /** The token just exchanged, within the grace period: hand out the current token again, unchanged. */
  | { outcome: "grace"; generation: number }
  /** An earlier token outside the grace rule: two parties hold the session; end it (§6.4). */
  | { outcome: "theft" }
  /** Issued before a password change of this session: refused, the session stays (§6.6). */
  | { outcome: "retired" }
  /** Refused and nothing changes (§6.5). */
  | { outcome: "invalid"; reason: InvalidReason };

/**
 * Whether a session may still be used: not ended and before its absolute end.
 * BEHAVIOUR.md §5: the one definition of "active" (the store's SQL predicate
 * says the same, see `ACTIVE` in db/stores/session-store.ts). Idle expiry
 * stops the refresh token; as REFRESH_TOKEN_TTL ≥ ACCESS_TOKEN_TTL, no access
 * token of an idle session is alive either.
 */
export function isSessionActive(state: Pick<RefreshState, "endedAt" | "expiresAt">, now: Date): boolean {
  return state.endedAt === null && now.getTime() < state.expiresAt.getTime();
}

/** When the current token stops working unused: idle lifetime, never past the absolute end (RFC 9700 §4.14.2). */
export function refreshTokenExpiry(state: Pick<RefreshState, "lastUsedAt" | "expiresAt">, policy: RefreshPolicy): Date {
  return new Date(Math.min(state.lastUsedAt.getTime() + policy.refreshTokenTtl * 1000, state.expiresAt.getTime()));
}

export function decideRefresh(
  state: RefreshState,
  presented: PresentedGeneration,
  now: Date,
  policy: RefreshPolicy,
): RefreshDecision {
  // Forgery first: a token we did not make learns nothing and changes nothing,
  // whatever state its session is in.
  if (!presented.authentic || presented.generation > state.generation) return invalid("FORGED");
  if (state.endedAt !== null) return invalid("ENDED");
  if (now.getTime() >= state.expiresAt.getTime()) return invalid("EXPIRED");
  if (presented.generation < state.retiredBelow) return { outcome: "retired" };

  // Idle expiry ends the current token's usefulness, not the session's
  // memory: an earlier token still raises the theft alarm, for the session's
  // whole life (§6.4).
  const idle = now.getTime() >= refreshTokenExpiry(state, policy).getTime();
  if (presented.generation === state.generation) {
    return idle ? invalid("IDLE") : { outcome: "rotate", generation: state.generation + 1 };
  }
  if (
    presented.generation === state.generation - 1 &&
    state.rotatedAt !== null &&
    now.getTime() - state.rotatedAt.getTime() < policy.reuseGrace * 1000
  ) {
    return idle ? invalid("IDLE") : { outcome: "grace", generation: state.generation };
  }
  return { outcome: "theft" };
}

export type LogoutDecision = { outcome: "end" } | { outcome: "retired" } | { outcome: "invalid" };

/**
 * `logout(T)`: any token this server issued to the session and not retired
 * ends it, and says so again once it has ended (idempotent). A forged or
 * retired token changes nothing: knowing a session id, or holding a token
 * from before a password change, is not enough to end a session.
 */
export function decideLogout(
  state: Pick<RefreshState, "generation" | "retiredBelow">,
  presented: PresentedGeneration,
): LogoutDecision {
  if (!presented.authentic || presented.generation > state.generation) return { outcome: "invalid" };
  if (presented.generation < state.retiredBelow) return { outcome: "retired" };
  return { outcome: "end" };
}

const invalid = (reason: InvalidReason): RefreshDecision => ({ outcome: "invalid", reason });
