import { Secret, TOTP } from "otpauth";
import type { TestClock } from "./clock";
import { errorCode, gql, LOGIN, PAYLOAD, type Tokens } from "./graphql";

export const START_TOTP = "mutation { startTotpSetup { secret uri qrCodeSvg } }";
export const CONFIRM_TOTP = "mutation ($code: String!) { confirmTotpSetup(code: $code) }";
export const DISABLE_TOTP = "mutation ($code: String!) { disableTotp(code: $code) }";
export const REGENERATE = "mutation ($code: String!) { regenerateRecoveryCodes(code: $code) }";
export const VERIFY_MFA = `mutation ($mfaToken: String!, $code: String) {
  verifyMfa(input: { mfaToken: $mfaToken, code: $code }) { ${PAYLOAD} }
}`;
export const REAUTHENTICATE = `mutation ($password: String, $code: String) {
  reauthenticate(input: { password: $password, code: $code }) { ${PAYLOAD} }
}`;
export const SECOND_FACTORS = "query { me { secondFactors } }";

const PERIOD_MS = 30_000;

/**
 * A user's authenticator app, as a test holds it: makes the code a real app
 * would show, from the secret (RFC 6238 through `otpauth`, independent of
 * the server's code). The server accepts each step once, so `next()` gives a
 * code of a step later than any used before, within the ±1 window of the
 * server's clock, moving that clock 30 s on when the window is used up.
 */
export class Authenticator {
  private lastStep = Number.NEGATIVE_INFINITY;

  constructor(
    readonly secret: string,
    private readonly clock: TestClock,
  ) {}

  /** The code of the step `offset` steps from the server's current one. */
  codeAt(offset: number): string {
    return TOTP.generate({
      secret: Secret.fromBase32(this.secret),
      timestamp: this.clock.now().getTime() + offset * PERIOD_MS,
    });
  }

  currentStep(): number {
    return Math.floor(this.clock.now().getTime() / PERIOD_MS);
  }

  /** A code the server has not seen a step for yet (marks that step used). */
  next(): string {
    let current = this.currentStep();
    if (this.lastStep >= current + 1) {
      this.clock.advance(30);
      current = this.currentStep();
    }
    const step = Math.max(this.lastStep + 1, current - 1);
    this.lastStep = step;
    return this.codeAt(step - current);
  }

  /** After the server accepted a code of the current step elsewhere (the confirmation). */
  used(offset = 0): void {
    this.lastStep = Math.max(this.lastStep, this.currentStep() + offset);
  }
}

/** Sets up TOTP for a signed-in user; returns the app and the 10 recovery codes. */
export async function enrollTotp(
  url: string,
  clock: TestClock,
  accessToken: string,
): Promise<{ app: Authenticator; recoveryCodes: string[]; uri: string; qrCodeSvg: string }> {
  const started = await gql(url, START_TOTP, {}, { token: accessToken });
  const setup = started.body.data?.startTotpSetup;
  if (!setup) throw new Error(`startTotpSetup failed: ${started.text}`);
  const app = new Authenticator(setup.secret, clock);
  const confirmed = await gql(url, CONFIRM_TOTP, { code: app.codeAt(0) }, { token: accessToken });
  const recoveryCodes = confirmed.body.data?.confirmTotpSetup;
  if (!recoveryCodes) throw new Error(`confirmTotpSetup failed: ${confirmed.text}`);
  app.used(0);
  return { app, recoveryCodes, uri: setup.uri, qrCodeSvg: setup.qrCodeSvg };
}

/** Logs in with the password and expects MFA_REQUIRED; returns its extensions. */
export async function loginForMfa(
  url: string,
  user: { email: string; password: string },
): Promise<{ mfaToken: string; methods: string[] }> {
  const r = await gql(url, LOGIN, { email: user.email, password: user.password });
  if (errorCode(r) !== "MFA_REQUIRED") throw new Error(`expected MFA_REQUIRED: ${r.text}`);
  return r.body.errors?.[0]?.extensions as { mfaToken: string; methods: string[] };
}

export async function verifyMfa(url: string, mfaToken: string, code: string) {
  return gql<{ verifyMfa: Tokens }>(url, VERIFY_MFA, { mfaToken, code });
}
