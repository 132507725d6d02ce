// Sign up, the e-mailed code, log in, social sign-in (#login=<code> / #error=<slug>), log out.
import { api, ApiError, session } from "./api.js";
import { $, announce, banner, busy, clearErrors, el, fieldError, showProblem } from "./ui.js";

// The slugs the sign-in callback sends in #error= (shared/domain/social.py). The fragment
// is anyone's to write (a link can carry any text): only these messages are ever shown.
const SOCIAL_ERRORS = {
  "invalid-state": "The sign-in took too long or was started elsewhere. Please try again.",
  "access-denied": "The sign-in was cancelled.",
  "email-not-verified": "That provider has not verified your e-mail address.",
  "provider-error": "The sign-in provider's answer could not be checked. Please try again.",
  "unknown-provider": "That sign-in provider is not available.",
  "identity-mismatch": "Your account here is linked to a different account at that provider.",
  "conflict": "Your account was busy. Please try again.",
  "rate-limited": "Too many sign-in attempts. Please wait a minute and try again.",
  "upstream-unavailable": "The sign-in provider cannot be reached right now.",
};
const SOCIAL_ERROR_OTHER = "Sign-in failed. Please try again.";

function values(form) {
  return Object.fromEntries(new FormData(form).entries());
}

function requireFields(form, data, names) {
  for (const name of names) {
    if (!String(data[name] || "").trim()) {
      fieldError(form, name, "Please fill this in.");
      return false;
    }
  }
  return true;
}

export function setupAuth({ show, signedIn }) {
  const loginForm = $("#login-form");
  const signupForm = $("#signup-form");
  const verifyForm = $("#verify-form");

  loginForm.addEventListener("submit", async (event) => {
    event.preventDefault();
    const data = values(loginForm);
    clearErrors(loginForm);
    if (!requireFields(loginForm, data, ["email", "password"])) return;
    busy(loginForm, true);
    try {
      session.store(await api("POST", "login", { email: data.email.trim(), password: data.password }));
      loginForm.reset();
      await signedIn();
    } catch (error) {
      if (error instanceof ApiError && error.slug === "email-not-verified") {
        $("#verify-email").value = data.email.trim();
        show("verify");
        banner("Your e-mail address is not verified yet: enter the code we sent you.");
      } else {
        showProblem(loginForm, error);
      }
    } finally {
      busy(loginForm, false);
    }
  });

  signupForm.addEventListener("submit", async (event) => {
    event.preventDefault();
    const data = values(signupForm);
    clearErrors(signupForm);
    if (!requireFields(signupForm, data, ["email", "password"])) return;
    if (data.password.length < 8) return fieldError(signupForm, "password", "At least 8 characters.");
    busy(signupForm, true);
    try {
      const account = await api("POST", "register", { email: data.email.trim(), password: data.password });
      signupForm.reset();
      $("#verify-email").value = account.email;
      $("#login-email").value = account.email;
      $("#verify-intro").textContent = `We e-mailed a 6-digit code to ${account.email}.`;
      show("verify");
      announce(`Account created. We e-mailed a code to ${account.email}.`);
    } catch (error) {
      showProblem(signupForm, error);
    } finally {
      busy(signupForm, false);
    }
  });

  verifyForm.addEventListener("submit", async (event) => {
    event.preventDefault();
    const data = values(verifyForm);
    clearErrors(verifyForm);
    if (!requireFields(verifyForm, data, ["email", "otp"])) return;
    if (!/^\d{6}$/.test(data.otp.trim())) return fieldError(verifyForm, "otp", "The code has 6 digits.");
    busy(verifyForm, true);
    try {
      await api("POST", "verify-email", { email: data.email.trim(), otp: data.otp.trim() });
      $("#login-email").value = data.email.trim();
      verifyForm.reset();
      show("signin");
      banner("Your e-mail address is verified. Log in to continue.");
      $("#login-password").focus();
    } catch (error) {
      if (error instanceof ApiError && error.slug === "already-verified") {
        show("signin");
        banner("That address is already verified. Log in to continue.");
      } else {
        showProblem(verifyForm, error, { otp: "otp" });
      }
    } finally {
      busy(verifyForm, false);
    }
  });

  $("#resend").addEventListener("click", async () => {
    const email = $("#verify-email").value.trim();
    clearErrors(verifyForm);
    if (!email) return fieldError(verifyForm, "email", "Which address should get the code?");
    try {
      await api("POST", "resend-otp", { email });
      announce(`If ${email} has an account waiting, a new code is on its way.`);
      $(".form-error", verifyForm).textContent = "A new code is on its way (at most one a minute).";
    } catch (error) {
      showProblem(verifyForm, error);
    }
  });
}

export async function loadProviders() {
  const list = $("#provider-list");
  try {
    const body = await api("GET", "auth/providers");
    list.replaceChildren(
      ...(body.items || []).map((provider) =>
        el("li", {},
          el("a", {
            class: "button provider",
            href: `/api/auth/${encodeURIComponent(provider.name)}/login`,
            text: `Sign in with ${provider.display_name || provider.name}`,
          })),
      ),
    );
    $("#providers").hidden = list.children.length === 0;
  } catch {
    $("#providers").hidden = true; // social sign-in is optional; e-mail works regardless
  }
}

// The social sign-in callback lands on /api/app#login=<code> or #error=<slug>.
export async function consumeRedirect() {
  const hash = new URLSearchParams(location.hash.slice(1));
  const code = hash.get("login");
  const slug = hash.get("error");
  if (!code && !slug) return false;
  history.replaceState(null, "", location.pathname + location.search);
  if (slug) {
    banner(Object.hasOwn(SOCIAL_ERRORS, slug) ? SOCIAL_ERRORS[slug] : SOCIAL_ERROR_OTHER);
    return false;
  }
  try {
    session.store(await api("POST", "auth/token", { login_code: code }, { withCookies: true }));
    return true;
  } catch (error) {
    banner(`Sign-in failed: ${error.message}`);
    return false;
  }
}
