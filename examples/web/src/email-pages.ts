import { type ApolloClient, gql, type TypedDocumentNode } from "@apollo/client";
import type { AuthClient } from "./auth-client";
import type { SignIn, User } from "./operations";
import * as ops from "./operations";
import { forgetToken, navigate, type Route, tokenFor } from "./router";
import { $, type ApiError, apiError, explain, onSubmit } from "./ui";

// The mail pages (BEHAVIOUR.md §7). The four a mail links to — /reset-password,
// /verify-email, /sign-in-with-link, /confirm-email-change, each `?token=…` —
// send NOTHING when they open: mail scanners (Outlook Safe Links and the like)
// fetch, and some run, every link before the person sees the mail, and a token
// is single-use. Each page shows a button; only pressing it sends the token.

/** What the pages need from main.ts. */
export interface App {
  client: ApolloClient;
  auth: AuthClient;
  /** Reloads the signed-in user (after a verification or an email change); null when signed out. */
  me(): Promise<string | null>;
  /** Keeps the access token of a sign-in and shows the account. */
  signedIn(payload: SignIn): void;
  signOut(): Promise<void>;
  /** A sign-in answered MFA_REQUIRED: the home page asks for the second factor. */
  mfaRequired(e: ApiError): void;
  user(): User | null;
}

const withUser = (op: string) => gql(`${op}\n${ops.userFields(true)}`);
type Vars = Record<string, string>;
const REQUEST_PASSWORD_RESET: TypedDocumentNode<{ requestPasswordReset: boolean }, Vars> = gql(
  ops.REQUEST_PASSWORD_RESET,
);
const RESET_PASSWORD: TypedDocumentNode<{ resetPassword: boolean }, Vars> = gql(ops.RESET_PASSWORD);
const REQUEST_EMAIL_VERIFICATION: TypedDocumentNode<{ requestEmailVerification: boolean }> = gql(
  ops.REQUEST_EMAIL_VERIFICATION,
);
const VERIFY_EMAIL: TypedDocumentNode<{ verifyEmail: boolean }, Vars> = gql(ops.VERIFY_EMAIL);
const REQUEST_EMAIL_CHANGE: TypedDocumentNode<{ requestEmailChange: boolean }, Vars> = gql(ops.REQUEST_EMAIL_CHANGE);
const CONFIRM_EMAIL_CHANGE: TypedDocumentNode<{ confirmEmailChange: boolean }, Vars> = gql(ops.CONFIRM_EMAIL_CHANGE);
const REQUEST_SIGN_IN_EMAIL: TypedDocumentNode<{ requestSignInEmail: boolean }, Vars> = gql(ops.REQUEST_SIGN_IN_EMAIL);
const SIGN_IN_WITH_EMAIL_LINK: TypedDocumentNode<{ signIn: SignIn }, Vars> = withUser(ops.SIGN_IN_WITH_EMAIL_LINK);
const SIGN_IN_WITH_EMAIL_CODE: TypedDocumentNode<{ signIn: SignIn }, Vars> = withUser(ops.SIGN_IN_WITH_EMAIL_CODE);

const USED = "This link has expired or was already used.";
/** After a reload the token is gone: the page took it out of the address bar. */
const MISSING = "This page needs the link from your email: open it from the email again.";

/**
 * A page opened from a mailed link: the token from the URL (router.ts), a form
 * whose button sends it, and what to show when the server accepted it
 * (`done`), refused it as INVALID_TOKEN or it is missing (`invalid`, with its
 * `.why` line and a way to get a new link), or something else went wrong.
 */
interface TokenPage {
  route: Route;
  submit(token: string, input: FormData): Promise<void>;
  /** Codes this page explains itself; true when handled. */
  handle?(e: ApiError): boolean;
}

export function setUpEmailPages(app: App): { enter(route: Route): void } {
  const { client } = app;
  const mutate = <T>(mutation: TypedDocumentNode<T, Vars>, variables: Vars = {}) =>
    // no-cache: sign-ins carry an access token, the rest returns a bare Boolean.
    client.mutate({ mutation, variables, fetchPolicy: "no-cache" });

  const tokenPages: TokenPage[] = [];
  function tokenPage(page: TokenPage) {
    tokenPages.push(page);
    const id = page.route;
    const form = $<HTMLFormElement>(`${id}-form`);
    onSubmit(form, async (input) => {
      const token = tokenFor(id);
      if (token === null) return invalid(id, MISSING);
      $(`${id}-error`).textContent = "";
      try {
        await page.submit(token, input);
        forgetToken();
        form.hidden = true;
        $(`${id}-done`).hidden = false;
      } catch (error) {
        const e = apiError(error);
        if (e.code === "INVALID_TOKEN") {
          forgetToken();
          invalid(id, USED);
        } else if (!page.handle?.(e)) {
          $(`${id}-error`).textContent = explain(e);
        }
      }
    });
  }
  function invalid(id: Route, why: string) {
    $(`${id}-form`).hidden = true;
    $(`${id}-invalid`).hidden = false;
    $(`${id}-why`).textContent = why;
  }
  /** Opening a link page shows its button, and sends nothing. */
  function enterTokenPage(page: TokenPage) {
    const id = page.route;
    $(`${id}-form`).hidden = false;
    $(`${id}-done`).hidden = true;
    $(`${id}-invalid`).hidden = true;
    $(`${id}-error`).textContent = "";
    if (tokenFor(id) === null) invalid(id, MISSING);
  }

  // Forgot password: the same answer whether or not the account exists (the server's too).
  onSubmit($<HTMLFormElement>("forgot-password-form"), async (input) => {
    const email = String(input.get("email")).trim();
    $("forgot-password-result").textContent = "";
    $("forgot-password-error").textContent = "";
    try {
      await mutate(REQUEST_PASSWORD_RESET, { email });
      $("forgot-password-result").textContent =
        `If an account exists, we sent a link to ${email}. Open it to choose a new password.`;
    } catch (error) {
      const e = apiError(error);
      $("forgot-password-error").textContent =
        e.code === "BAD_USER_INPUT" ? "That does not look like an email address." : explain(e);
    }
  });

  // Reset password: the token from the link, a new password, one button.
  tokenPage({
    route: "reset-password",
    async submit(token, input) {
      $("reset-password-field-error").textContent = "";
      await mutate(RESET_PASSWORD, { token, newPassword: String(input.get("newPassword")) });
      $<HTMLFormElement>("reset-password-form").reset();
      // Every session of the account ended; if this tab was signed in to it, it finds out now.
      if (app.user() !== null) await app.me();
    },
    handle(e) {
      if (e.code !== "BAD_USER_INPUT") return false;
      // The policy's verdict (too short, too common, …): the field's message is the only place it is said.
      $("reset-password-field-error").textContent = `This password cannot be used: ${e.message}`;
      $("reset-password-new").focus();
      return true; // the link still works: choose another password
    },
  });

  // Verify email.
  tokenPage({
    route: "verify-email",
    async submit(token) {
      await mutate(VERIFY_EMAIL, { token });
      if (app.user() !== null) await app.me(); // the banner goes away
    },
  });

  // Sign in with a mailed link: like a login, on this device.
  tokenPage({
    route: "sign-in-with-link",
    async submit(token) {
      const { data } = await mutate(SIGN_IN_WITH_EMAIL_LINK, { token });
      if (!data) throw new Error("no data");
      app.signedIn(data.signIn);
      navigate("");
    },
    handle(e) {
      if (e.code !== "MFA_REQUIRED") return false;
      // The link was right (and is used up); the account has a second factor: ask for it on the home page.
      forgetToken();
      navigate("");
      app.mfaRequired(e);
      return true;
    },
  });

  // Confirm an email change: the link went to the new address.
  tokenPage({
    route: "confirm-email-change",
    async submit(token) {
      await mutate(CONFIRM_EMAIL_CHANGE, { token });
      if (app.user() !== null) await app.me();
    },
    handle(e) {
      if (e.code !== "EMAIL_TAKEN") return false;
      forgetToken();
      $("confirm-email-change-form").hidden = true;
      $("confirm-email-change-error").textContent = "That address now belongs to another account.";
      return true;
    },
  });

  // Sign in with a code: ask for a mail, then type the 6 digits from it.
  let codeEmail = "";
  const emailForm = $<HTMLFormElement>("sign-in-with-email-form");
  const codeForm = $<HTMLFormElement>("code-form");
  onSubmit(emailForm, async (input) => {
    const email = String(input.get("email")).trim();
    $("sign-in-with-email-error").textContent = "";
    try {
      await mutate(REQUEST_SIGN_IN_EMAIL, { email });
      codeEmail = email;
      emailForm.hidden = true;
      codeForm.hidden = false;
      $("code-sent").textContent = `If an account exists, we sent a sign-in link and a 6-digit code to ${email}.`;
      $("code-input").focus();
    } catch (error) {
      const e = apiError(error);
      $("sign-in-with-email-error").textContent =
        e.code === "BAD_USER_INPUT" ? "That does not look like an email address." : explain(e);
    }
  });
  onSubmit(codeForm, async (input) => {
    const code = String(input.get("code")).replace(/\s+/g, "");
    $("code-error").textContent = "";
    try {
      const { data } = await mutate(SIGN_IN_WITH_EMAIL_CODE, { email: codeEmail, code });
      if (!data) return;
      codeForm.reset();
      app.signedIn(data.signIn);
      navigate("");
    } catch (error) {
      const e = apiError(error);
      if (e.code === "MFA_REQUIRED") {
        // The mailed code was right; the account has a second factor: ask for it on the home page.
        codeForm.reset();
        navigate("");
        app.mfaRequired(e);
        return;
      }
      $("code-error").textContent =
        e.code === "INVALID_CREDENTIALS"
          ? "That code is wrong or has expired. Check the newest email, or send a new code."
          : e.code === "BAD_USER_INPUT"
            ? "Enter the 6 digits from the email."
            : explain(e);
    }
  });
  $("code-restart").onclick = () => {
    codeForm.reset();
    codeForm.hidden = true;
    emailForm.hidden = false;
    $("code-error").textContent = "";
  };

  // Signed in, not verified: the banner resends the verification mail.
  $("verify-resend").onclick = async () => {
    const button = $<HTMLButtonElement>("verify-resend");
    button.disabled = true;
    try {
      await mutate(REQUEST_EMAIL_VERIFICATION);
      $("verify-resend-result").textContent = `We sent a new link to ${app.user()?.email ?? "your address"}.`;
    } catch (error) {
      $("verify-resend-result").textContent = explain(apiError(error));
    } finally {
      button.disabled = false;
    }
  };

  // Change email (signed in, recent sign-in): a link to the new address, a notice to the old one.
  const changeForm = $<HTMLFormElement>("change-email-form");
  onSubmit(changeForm, async (input) => {
    const newEmail = String(input.get("newEmail")).trim();
    $("change-email-result").textContent = "";
    $("change-email-error").textContent = "";
    $("change-email-reauth").hidden = true;
    try {
      await mutate(REQUEST_EMAIL_CHANGE, { newEmail });
      changeForm.reset();
      $("change-email-result").textContent =
        `We sent a link to ${newEmail}: your address changes when you open it there. We told ${app.user()?.email ?? "your current address"} too.`;
    } catch (error) {
      const e = apiError(error);
      if (e.code === "REAUTHENTICATION_REQUIRED") {
        $("change-email-error").textContent = "For your security, sign in again before changing your email.";
        $("change-email-reauth").hidden = false;
      } else {
        $("change-email-error").textContent =
          e.code === "EMAIL_TAKEN"
            ? "That address belongs to another account."
            : e.code === "BAD_USER_INPUT"
              ? "That does not look like an email address."
              : explain(e);
      }
    }
  });
  // A fresh sign-in renews `auth_time`: sign out, then the sign-in form with the address filled in.
  $("change-email-reauth").onclick = async () => {
    const email = app.user()?.email ?? "";
    await app.signOut();
    $("error").textContent = "Sign in again, then change your email.";
    $<HTMLInputElement>("login-email").value = email;
    $("login-password").focus();
  };

  return {
    enter(route) {
      const page = tokenPages.find((p) => p.route === route);
      if (page) enterTokenPage(page);
    },
  };
}
