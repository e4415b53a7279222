import { type ApolloClient, gql, type TypedDocumentNode } from "@apollo/client";
import {
  type AuthenticationResponseJSON,
  browserSupportsWebAuthn,
  type PublicKeyCredentialCreationOptionsJSON,
  type PublicKeyCredentialRequestOptionsJSON,
  startAuthentication,
  startRegistration,
  WebAuthnError,
} from "@simplewebauthn/browser";
import type { AuthClient } from "./auth-client";
import type { Passkey, PasskeyChallenge, SecondFactor, SignIn, TotpSetup, User } from "./operations";
import * as ops from "./operations";
import type { Route } from "./router";
import { $, type ApiError, apiError, explain, onSubmit } from "./ui";

// Second factors and passkeys (BEHAVIOUR.md §8, mfa.graphql):
// - the sign-in's second step: a sign-in (password, mailed code or link) that
//   answers MFA_REQUIRED asks for a TOTP code, a recovery code or a passkey, and
//   completes with verifyMfa and the error's `mfaToken`;
// - "Sign in with a passkey", no email typed: the authenticator offers the
//   discoverable credentials it holds for this site;
// - the /security page: the authenticator app (set up with a QR code, recovery
//   codes shown once, new codes, turn off) and the passkeys (list, add, delete).
//   Those changes need a recent sign-in: on REAUTHENTICATION_REQUIRED the page
//   asks for the password (or a code, or a passkey), calls `reauthenticate` and
//   runs the change again.
// WebAuthn runs in the browser through @simplewebauthn/browser: the server's
// options go to it as they came (`optionsJSON`), its response goes back as it
// came. Passkeys need the page on a host name (localhost in development), not
// an IP address, matching the server's WEBAUTHN_RP_ID (README).

/** What this module needs from main.ts. */
export interface App {
  client: ApolloClient;
  auth: AuthClient;
  /** Keeps the access token of a sign-in and shows the account. */
  signedIn(payload: SignIn): void;
  user(): User | null;
  /** Resolves once the page knows whether someone is signed in (the first `me`). */
  ready(): Promise<unknown>;
  /** `userFields` with or without `emailVerified` (VITE_MAIL). */
  userFields: string;
}

export interface SecondFactors {
  /** A sign-in answered MFA_REQUIRED: show the second step on the home page. */
  mfaRequired(e: ApiError): void;
  /** Back to the first step (after a sign-in, or cancelled). */
  reset(): void;
  /** The router entered `route`. */
  enter(route: Route): void;
  /** Someone signed in or out. */
  userChanged(user: User | null): void;
  /**
   * Runs a change that needs a recent sign-in; on REAUTHENTICATION_REQUIRED
   * asks the person to confirm it is them, then runs it once more. Rejects
   * with Cancelled when they close the dialog.
   */
  sensitive<T>(change: () => Promise<T>): Promise<T>;
  /** The "confirm it's you" dialog on its own, for a change that cannot simply run again (an identity-provider link). */
  confirmItsYou(): Promise<void>;
}

type Vars = Record<string, unknown>;
type Doc<T> = TypedDocumentNode<T, Vars>;

/** The person closed the "confirm it's you" dialog: the change is not made. */
export class Cancelled extends Error {}

/** What the browser's WebAuthn said, in words; null when the error came from somewhere else. */
function passkeyProblem(error: unknown): string | null {
  const name = error instanceof WebAuthnError ? error.code : error instanceof DOMException ? error.name : null;
  switch (name) {
    case null:
      return null;
    case "ERROR_AUTHENTICATOR_PREVIOUSLY_REGISTERED":
    case "InvalidStateError":
      return "This authenticator already holds a passkey for your account.";
    case "ERROR_INVALID_DOMAIN":
    case "ERROR_INVALID_RP_ID":
    case "SecurityError":
      return "Passkeys do not work on this address: open the page on its host name (not an IP address).";
    default:
      // NotAllowedError (ERROR_CEREMONY_ABORTED …): cancelled, timed out, or no passkey for this site.
      return "The passkey request was cancelled or timed out.";
  }
}

export function setUpSecondFactors(app: App): SecondFactors {
  const { client, auth } = app;
  const withUser = (op: string) => gql(`${op}\n${app.userFields}`);
  const VERIFY_MFA: Doc<{ signIn: SignIn }> = withUser(ops.VERIFY_MFA);
  const START_PASSKEY_MFA: Doc<{ startPasskeyMfa: PasskeyChallenge }> = gql(ops.START_PASSKEY_MFA);
  const START_PASSKEY_SIGN_IN: Doc<{ startPasskeySignIn: PasskeyChallenge }> = gql(ops.START_PASSKEY_SIGN_IN);
  const FINISH_PASSKEY_SIGN_IN: Doc<{ signIn: SignIn }> = withUser(ops.FINISH_PASSKEY_SIGN_IN);
  const REAUTHENTICATE: Doc<{ reauthenticate: { accessToken: string } }> = gql(ops.REAUTHENTICATE);
  const SECOND_FACTORS: Doc<{ me: { id: string; secondFactors: SecondFactor[] } }> = gql(ops.SECOND_FACTORS);
  const PASSKEYS: Doc<{ passkeys: Passkey[] }> = gql(ops.PASSKEYS);
  const START_TOTP_SETUP: Doc<{ startTotpSetup: TotpSetup }> = gql(ops.START_TOTP_SETUP);
  const CONFIRM_TOTP_SETUP: Doc<{ confirmTotpSetup: string[] }> = gql(ops.CONFIRM_TOTP_SETUP);
  const REGENERATE_RECOVERY_CODES: Doc<{ regenerateRecoveryCodes: string[] }> = gql(ops.REGENERATE_RECOVERY_CODES);
  const DISABLE_TOTP: Doc<{ disableTotp: boolean }> = gql(ops.DISABLE_TOTP);
  const START_PASSKEY_REGISTRATION: Doc<{ startPasskeyRegistration: PasskeyChallenge }> = gql(
    ops.START_PASSKEY_REGISTRATION,
  );
  const FINISH_PASSKEY_REGISTRATION: Doc<{ finishPasskeyRegistration: Passkey }> = gql(ops.FINISH_PASSKEY_REGISTRATION);
  const DELETE_PASSKEY: Doc<{ deletePasskey: boolean }> = gql(ops.DELETE_PASSKEY);

  // no-cache: sign-ins and reauthenticate carry tokens, setups carry secrets and recovery codes.
  async function mutate<T>(mutation: Doc<T>, variables: Vars = {}): Promise<T> {
    const { data } = await client.mutate({ mutation, variables, fetchPolicy: "no-cache" });
    if (!data) throw new Error("no data");
    return data;
  }
  async function query<T>(q: Doc<T>): Promise<T> {
    const { data } = await client.query({ query: q, fetchPolicy: "no-cache" });
    if (!data) throw new Error("no data");
    return data;
  }

  /** A WebAuthn sign-in ceremony for a challenge: the authenticator's signed answer. */
  const assertion = (challenge: PasskeyChallenge): Promise<AuthenticationResponseJSON> =>
    startAuthentication({ optionsJSON: challenge.options as unknown as PublicKeyCredentialRequestOptionsJSON });

  const webAuthn = browserSupportsWebAuthn();
  const codeOnly = (typed: FormDataEntryValue | null) => String(typed ?? "").replace(/\s+/g, "");

  // ---- The sign-in's second step (home page) ----------------------------------------------------

  let mfaToken: string | null = null;
  /** MFA_REQUIRED's `methods`: what the account accepts. */
  let methods: string[] = [];
  /** Whether the code field takes a recovery code (else a TOTP code). */
  let recoveryMode = false;
  const mfaForm = $<HTMLFormElement>("mfa-form");

  function setRecoveryMode(on: boolean, methods: string[]) {
    recoveryMode = on;
    const input = $<HTMLInputElement>("mfa-code");
    $("mfa-code-label").textContent = on ? "Recovery code" : "6-digit code from your authenticator app";
    input.inputMode = on ? "text" : "numeric";
    input.value = "";
    $("mfa-use-recovery").hidden = on || !methods.includes("RECOVERY_CODE");
    $("mfa-use-totp").hidden = !on || !methods.includes("TOTP");
  }

  function mfaRequired(e: ApiError) {
    if (!e.mfaToken) {
      $("error").textContent = explain(e);
      return;
    }
    mfaToken = e.mfaToken;
    methods = e.methods ?? ["TOTP", "RECOVERY_CODE"];
    const byCode = methods.includes("TOTP") || methods.includes("RECOVERY_CODE");
    $("sign-in-forms").hidden = true;
    mfaForm.hidden = false;
    $("mfa-error").textContent = "";
    $("error").textContent = "";
    $("mfa-code-fields").hidden = !byCode;
    $<HTMLInputElement>("mfa-code").required = byCode;
    $("mfa-passkey").hidden = !(methods.includes("PASSKEY") && webAuthn);
    setRecoveryMode(!methods.includes("TOTP"), methods);
    if (byCode) $("mfa-code").focus();
  }

  function reset() {
    mfaToken = null;
    mfaForm.reset();
    mfaForm.hidden = true;
    $("mfa-error").textContent = "";
    $("sign-in-forms").hidden = false;
  }

  /** The mfaToken is spent (5 wrong codes) or expired: back to the first step, saying why. */
  function startAgain() {
    reset();
    $("error").textContent = "That sign-in has expired or had too many wrong codes. Please sign in again.";
  }

  onSubmit(mfaForm, async (input) => {
    if (mfaToken === null) return;
    $("mfa-error").textContent = "";
    try {
      const data = await mutate(VERIFY_MFA, { mfaToken, code: codeOnly(input.get("code")) });
      reset();
      app.signedIn(data.signIn);
    } catch (error) {
      const e = apiError(error);
      if (e.code === "INVALID_TOKEN") return startAgain();
      $<HTMLInputElement>("mfa-code").value = "";
      $("mfa-error").textContent =
        e.code === "INVALID_CREDENTIALS"
          ? recoveryMode
            ? "That recovery code is wrong or was already used."
            : "That code is wrong or was already used. Wait for the next one in your app."
          : explain(e);
    }
  });
  $("mfa-use-recovery").onclick = () => setRecoveryMode(true, methods);
  $("mfa-use-totp").onclick = () => setRecoveryMode(false, methods);
  $("mfa-cancel").onclick = () => reset();
  $("mfa-passkey").onclick = async () => {
    if (mfaToken === null) return;
    const button = $<HTMLButtonElement>("mfa-passkey");
    button.disabled = true;
    $("mfa-error").textContent = "";
    try {
      const { startPasskeyMfa: challenge } = await mutate(START_PASSKEY_MFA, { mfaToken });
      const response = await assertion(challenge);
      const data = await mutate(VERIFY_MFA, { mfaToken, passkey: { challengeId: challenge.challengeId, response } });
      reset();
      app.signedIn(data.signIn);
    } catch (error) {
      const problem = passkeyProblem(error);
      const e = apiError(error);
      if (problem === null && e.code === "INVALID_TOKEN") return startAgain();
      $("mfa-error").textContent =
        problem ?? (e.code === "INVALID_CREDENTIALS" ? "That passkey is not one of this account's." : explain(e));
    } finally {
      button.disabled = false;
    }
  };

  // ---- Sign in with a passkey (no email) ---------------------------------------------------------

  if (!webAuthn) $("passkey-sign-in-section").hidden = true;
  $("passkey-sign-in").onclick = async () => {
    const button = $<HTMLButtonElement>("passkey-sign-in");
    button.disabled = true;
    $("passkey-sign-in-error").textContent = "";
    try {
      const { startPasskeySignIn: challenge } = await mutate(START_PASSKEY_SIGN_IN);
      const response = await assertion(challenge);
      const data = await mutate(FINISH_PASSKEY_SIGN_IN, { challengeId: challenge.challengeId, response });
      app.signedIn(data.signIn);
    } catch (error) {
      const e = apiError(error);
      $("passkey-sign-in-error").textContent =
        passkeyProblem(error) ??
        (e.code === "INVALID_CREDENTIALS"
          ? "This passkey does not belong to any account here (it may have been removed). Sign in with your password."
          : e.code === "INVALID_TOKEN"
            ? "That took too long. Please try again."
            : explain(e));
    } finally {
      button.disabled = false;
    }
  };

  // ---- Recent sign-in ----------------------------------------------------------------------------

  const dialog = $<HTMLDialogElement>("reauth-dialog");
  const reauthForm = $<HTMLFormElement>("reauth-form");
  let waiting: { resolve(): void; reject(e: Error): void } | null = null;
  let reauthByCode = false;
  /** The factors of the signed-in user, as the security page last loaded them. */
  let factors: SecondFactor[] = [];

  function reauthMode(byCode: boolean) {
    reauthByCode = byCode;
    $("reauth-password-label").hidden = byCode;
    $("reauth-code-label").hidden = !byCode;
    $<HTMLInputElement>("reauth-password").required = !byCode;
    $<HTMLInputElement>("reauth-code").required = byCode;
    $("reauth-use-code").hidden = byCode || !factors.includes("TOTP");
    $("reauth-use-password").hidden = !byCode;
    (byCode ? $("reauth-code") : $("reauth-password")).focus();
  }

  /** Asks the person to prove it is them again; resolves once `reauthenticate` succeeded, rejects with Cancelled. */
  function askToReauthenticate(): Promise<void> {
    waiting?.reject(new Cancelled());
    reauthForm.reset();
    $("reauth-error").textContent = "";
    $("reauth-passkey").hidden = !(factors.includes("PASSKEY") && webAuthn);
    if (!dialog.open) dialog.showModal();
    reauthMode(false);
    return new Promise((resolve, reject) => {
      waiting = { resolve, reject };
    });
  }
  function closeReauth(outcome: "done" | "cancelled") {
    const w = waiting;
    waiting = null;
    reauthForm.reset();
    if (dialog.open) dialog.close();
    if (outcome === "done") w?.resolve();
    else w?.reject(new Cancelled());
  }
  async function reauthenticate(input: Vars) {
    const data = await mutate(REAUTHENTICATE, input);
    // Fresh tokens for the same session (the refresh cookie is renewed by the response).
    auth.signedIn(data.reauthenticate.accessToken);
    closeReauth("done");
  }
  onSubmit(reauthForm, async (input) => {
    $("reauth-error").textContent = "";
    try {
      await reauthenticate(
        reauthByCode ? { code: codeOnly(input.get("code")) } : { password: String(input.get("password") ?? "") },
      );
    } catch (error) {
      const e = apiError(error);
      $<HTMLInputElement>(reauthByCode ? "reauth-code" : "reauth-password").value = "";
      $("reauth-error").textContent =
        e.code === "INVALID_CREDENTIALS"
          ? reauthByCode
            ? "That code is wrong or was already used."
            : "That password is wrong."
          : explain(e);
    }
  });
  $("reauth-use-code").onclick = () => reauthMode(true);
  $("reauth-use-password").onclick = () => reauthMode(false);
  $("reauth-cancel").onclick = () => closeReauth("cancelled");
  dialog.addEventListener("cancel", () => closeReauth("cancelled")); // Escape
  $("reauth-passkey").onclick = async () => {
    $("reauth-error").textContent = "";
    try {
      const { startPasskeySignIn: challenge } = await mutate(START_PASSKEY_SIGN_IN);
      const response = await assertion(challenge);
      await reauthenticate({ passkey: { challengeId: challenge.challengeId, response } });
    } catch (error) {
      const e = apiError(error);
      $("reauth-error").textContent =
        passkeyProblem(error) ??
        (e.code === "INVALID_CREDENTIALS" ? "That passkey is not one of this account's." : explain(e));
    }
  };

  /**
   * Runs a change that needs a recent sign-in; on REAUTHENTICATION_REQUIRED asks
   * the person to confirm it is them, then runs it once more.
   */
  async function sensitive<T>(change: () => Promise<T>): Promise<T> {
    try {
      return await change();
    } catch (error) {
      if (apiError(error).code !== "REAUTHENTICATION_REQUIRED") throw error;
      await askToReauthenticate();
      return change();
    }
  }

  // ---- The security page --------------------------------------------------------------------------

  let onSecurityPage = false;

  function showFactors(list: SecondFactor[]) {
    factors = list;
    const on = list.includes("TOTP");
    $("totp-status").textContent = on ? "On" : "Off";
    $("totp-start").hidden = on || !$("totp-setup").hidden;
    $("totp-manage-form").hidden = !on;
  }

  const when = (iso: string) => new Date(iso).toLocaleString();
  function showPasskeys(passkeys: Passkey[]) {
    const items = passkeys.map((p) => {
      const li = document.createElement("li");
      li.className = "passkey";
      li.dataset.id = p.id;
      const name = document.createElement("strong");
      name.className = "passkey-name";
      name.textContent = p.name; // text, never markup: a name is whatever someone typed
      const details = document.createElement("span");
      details.className = "passkey-details";
      details.textContent = ` — added ${when(p.createdAt)}, ${p.lastUsedAt ? `last used ${when(p.lastUsedAt)}` : "never used"} `;
      const remove = document.createElement("button");
      remove.type = "button";
      remove.className = "passkey-delete";
      remove.textContent = "Delete";
      remove.onclick = () => void deletePasskey(p, remove);
      li.append(name, details, remove);
      return li;
    });
    $("passkeys").replaceChildren(...items);
    $("passkeys-empty").hidden = passkeys.length > 0;
  }

  async function load() {
    const [f, p] = await Promise.all([query(SECOND_FACTORS), query(PASSKEYS)]);
    showFactors(f.me.secondFactors);
    showPasskeys(p.passkeys);
  }

  function clearSecurityPage() {
    for (const id of ["totp-result", "totp-error", "passkeys-result", "passkeys-error"]) $(id).textContent = "";
    hideSetup();
    hideRecoveryCodes();
    $("passkeys").replaceChildren();
  }

  async function enterSecurity() {
    $("security-content").hidden = true;
    $("security-signed-out").hidden = true;
    clearSecurityPage();
    await app.ready();
    if (!onSecurityPage) return;
    const user = app.user();
    if (user === null) {
      $("security-signed-out").hidden = false;
      return;
    }
    $("security-email").textContent = user.email;
    $("security-content").hidden = false;
    try {
      await load();
    } catch (error) {
      $("totp-error").textContent = explain(apiError(error));
    }
  }

  /** A failure of a change on this page, in words, where it happened. */
  function report(target: string, error: unknown, wrongCode?: string) {
    if (error instanceof Cancelled) return;
    const e = apiError(error);
    $(target).textContent =
      passkeyProblem(error) ?? (e.code === "INVALID_CREDENTIALS" && wrongCode ? wrongCode : explain(e));
  }

  // Authenticator app: start (secret and QR code), confirm with a first code, recovery codes once.
  function hideSetup() {
    $("totp-setup").hidden = true;
    $<HTMLImageElement>("totp-qr").removeAttribute("src");
    $("totp-secret").textContent = "";
    $<HTMLAnchorElement>("totp-uri").removeAttribute("href");
    $<HTMLFormElement>("totp-confirm-form").reset();
    $("totp-start").hidden = factors.includes("TOTP");
  }
  function showRecoveryCodes(codes: string[]) {
    const items = codes.map((code) => {
      const li = document.createElement("li");
      li.textContent = code;
      return li;
    });
    $("recovery-codes-list").replaceChildren(...items);
    $("recovery-codes").hidden = false;
  }
  /** Shown once: gone from the page as soon as the person says they kept them. */
  function hideRecoveryCodes() {
    $("recovery-codes-list").replaceChildren();
    $("recovery-codes").hidden = true;
  }
  $("recovery-codes-saved").onclick = hideRecoveryCodes;

  $("totp-start").onclick = async () => {
    const button = $<HTMLButtonElement>("totp-start");
    button.disabled = true;
    $("totp-result").textContent = "";
    $("totp-error").textContent = "";
    try {
      const { startTotpSetup: setup } = await sensitive(() => mutate(START_TOTP_SETUP));
      // The QR code is the server's SVG as an image: an <img> runs no script and loads nothing, so the
      // markup never becomes part of this page (no innerHTML from the network).
      $<HTMLImageElement>("totp-qr").src = `data:image/svg+xml;charset=utf-8,${encodeURIComponent(setup.qrCodeSvg)}`;
      $("totp-secret").textContent = setup.secret.replace(/(.{4})(?=.)/g, "$1 ");
      if (setup.uri.startsWith("otpauth://")) $<HTMLAnchorElement>("totp-uri").href = setup.uri;
      $("totp-setup").hidden = false;
      $("totp-start").hidden = true;
      $("totp-confirm-code").focus();
    } catch (error) {
      report("totp-error", error);
    } finally {
      button.disabled = false;
    }
  };
  onSubmit($<HTMLFormElement>("totp-confirm-form"), async (input) => {
    $("totp-error").textContent = "";
    const code = codeOnly(input.get("code"));
    try {
      const { confirmTotpSetup: codes } = await sensitive(() => mutate(CONFIRM_TOTP_SETUP, { code }));
      hideSetup();
      showRecoveryCodes(codes);
      $("totp-result").textContent = "Your authenticator app is on: signing in now asks for a code from it.";
      showFactors((await query(SECOND_FACTORS)).me.secondFactors);
    } catch (error) {
      $<HTMLInputElement>("totp-confirm-code").value = "";
      report("totp-error", error, "That code is wrong. Check the time on your phone, and type the newest code.");
    }
  });
  $("totp-cancel").onclick = hideSetup;

  // With the app on: new recovery codes, or turn it off; either takes a code from the app or a recovery code.
  const manageForm = $<HTMLFormElement>("totp-manage-form");
  onSubmit(manageForm, async (input) => {
    $("totp-result").textContent = "";
    $("totp-error").textContent = "";
    const code = codeOnly(input.get("code"));
    try {
      if (input.get("action") === "disable") {
        await sensitive(() => mutate(DISABLE_TOTP, { code }));
        hideRecoveryCodes();
        $("totp-result").textContent = "Your authenticator app is off, and your recovery codes no longer work.";
      } else {
        const { regenerateRecoveryCodes: codes } = await sensitive(() => mutate(REGENERATE_RECOVERY_CODES, { code }));
        showRecoveryCodes(codes);
        $("totp-result").textContent = "New recovery codes: the old ones no longer work.";
      }
      manageForm.reset();
      showFactors((await query(SECOND_FACTORS)).me.secondFactors);
    } catch (error) {
      $<HTMLInputElement>("totp-manage-code").value = "";
      report("totp-error", error, "That code is wrong or was already used.");
    }
  });

  // Passkeys: add (named), delete.
  const addForm = $<HTMLFormElement>("passkey-add-form");
  if (!webAuthn) {
    addForm.hidden = true;
    $("passkeys-error").textContent = "This browser does not support passkeys.";
  }
  onSubmit(addForm, async (input) => {
    $("passkeys-result").textContent = "";
    $("passkeys-error").textContent = "";
    const name = String(input.get("name") ?? "").trim();
    try {
      const { finishPasskeyRegistration: added } = await sensitive(async () => {
        const { startPasskeyRegistration: challenge } = await mutate(START_PASSKEY_REGISTRATION);
        const response = await startRegistration({
          optionsJSON: challenge.options as unknown as PublicKeyCredentialCreationOptionsJSON,
        });
        return mutate(FINISH_PASSKEY_REGISTRATION, {
          challengeId: challenge.challengeId,
          response,
          name: name === "" ? null : name,
        });
      });
      addForm.reset();
      $("passkeys-result").textContent = `Passkey “${added.name}” added: you can sign in with it, no password needed.`;
      await load();
    } catch (error) {
      report("passkeys-error", error);
    }
  });

  async function deletePasskey(passkey: Passkey, button: HTMLButtonElement) {
    button.disabled = true;
    $("passkeys-result").textContent = "";
    $("passkeys-error").textContent = "";
    try {
      await sensitive(() => mutate(DELETE_PASSKEY, { id: passkey.id }));
      $("passkeys-result").textContent =
        `Passkey “${passkey.name}” deleted. Your device may still offer it: remove it there too.`;
      await load();
    } catch (error) {
      report("passkeys-error", error);
    } finally {
      button.disabled = false;
    }
  }

  return {
    mfaRequired,
    reset,
    sensitive,
    async confirmItsYou() {
      // Outside the security page the factors were never loaded: the dialog offers a code or a passkey only if it knows.
      if (!onSecurityPage) {
        try {
          factors = (await query(SECOND_FACTORS)).me.secondFactors;
        } catch {
          factors = []; // the password, then
        }
      }
      return askToReauthenticate();
    },
    enter(route) {
      onSecurityPage = route === "security";
      if (onSecurityPage) void enterSecurity();
      else if (dialog.open) closeReauth("cancelled");
    },
    userChanged(user) {
      if (!onSecurityPage) return;
      if (user === null) {
        if (dialog.open) closeReauth("cancelled");
        clearSecurityPage();
        $("security-content").hidden = true;
        $("security-signed-out").hidden = false;
      }
    },
  };
}
