// The Beacon sign-in page: sign in, start your editor, open it. Plain JavaScript, no build step.
// Every text from the server goes into the page with textContent, never as HTML.
"use strict";

(() => {
  const EDITOR_ROOT = "/code/user/";
  const byId = (id) => document.getElementById(id);

  function say(text, isError) {
    const message = byId("message");
    message.textContent = text || "";
    message.className = isError ? "error" : "";
  }

  // One JSON request to the API with the session cookie; never throws.
  async function api(method, path, body) {
    const options = { method, credentials: "same-origin", cache: "no-store", headers: { Accept: "application/json" } };
    if (body !== undefined) {
      options.headers["Content-Type"] = "application/json";
      options.body = JSON.stringify(body);
    }
    let response;
    try {
      response = await fetch(path, options);
    } catch (error) {
      return { status: 0, data: {}, retryAfter: null };
    }
    let data = {};
    try {
      data = await response.json();
    } catch (error) {
      data = {};
    }
    return { status: response.status, data: data || {}, retryAfter: response.headers.get("Retry-After") };
  }

  function errorText(result, action) {
    const detail = typeof result.data.error === "string" ? result.data.error : "";
    switch (result.status) {
      case 0:
        return "The server could not be reached. Check your connection and try again.";
      case 401:
        return action === "login" ? "Wrong user id or password." : "Your session has ended. Please sign in again.";
      case 429: {
        const seconds = /^[0-9]{1,3}$/.test(result.retryAfter || "") ? result.retryAfter : "a few";
        return `Many editors are starting right now. Please try again in ${seconds} seconds.`;
      }
      case 502:
        return `Your editor could not be ${action === "stop" ? "stopped" : "started"}: ${detail || "the server failed"}`;
      default:
        return detail ? `Error: ${detail}` : `Unexpected answer from the server (HTTP ${result.status}).`;
    }
  }

  // Where to go after signing in: only an editor path on this site (no open redirect).
  function safeNext() {
    const next = new URLSearchParams(window.location.search).get("next");
    if (!next || !next.startsWith(EDITOR_ROOT) || /[\\\u0000-\u001f\u007f]/.test(next)) {
      return null;
    }
    const url = new URL(next, window.location.origin);
    if (url.origin !== window.location.origin || !url.pathname.startsWith(EDITOR_ROOT)) {
      return null;
    }
    return url.pathname + url.search + url.hash;
  }

  // The editor's address from the API: an http(s) URL under /code/user/.
  function editorUrl(value) {
    if (typeof value !== "string") {
      return null;
    }
    try {
      const url = new URL(value, window.location.origin);
      const ok = (url.protocol === "https:" || url.protocol === "http:") && url.pathname.startsWith(EDITOR_ROOT);
      return ok ? url.href : null;
    } catch (error) {
      return null;
    }
  }

  function showSignedIn(userId, editorStatus) {
    byId("signed-out").hidden = true;
    byId("signed-in").hidden = false;
    byId("signed-in-user").textContent = userId;
    const texts = {
      running: "Your editor is running.",
      stopped: "Your editor is stopped; opening it starts it again with your files.",
      absent: "Your editor will be created when you open it.",
    };
    byId("editor-status").textContent = texts[editorStatus] || "";
    byId("open-editor").disabled = false;
    byId("sign-out").disabled = false;
  }

  function showSignedOut() {
    byId("signed-in").hidden = true;
    byId("signed-out").hidden = false;
    byId("sign-in").disabled = false;
    byId("password").value = "";
  }

  async function checkSession() {
    const result = await api("GET", "/api/v1/code-server/status");
    if (result.status === 200 && typeof result.data.user_id === "string") {
      say("");
      showSignedIn(result.data.user_id, result.data.status);
    } else if (result.status === 401) {
      showSignedOut();
      say(safeNext() ? "Sign in to open your editor." : "");
      byId("user-id").focus();
    } else if (typeof result.data.user_id === "string") {
      showSignedIn(result.data.user_id, null);
      say(errorText(result, "status"), true);
    } else {
      showSignedOut();
      say(errorText(result, "status"), true);
    }
  }

  async function signIn(event) {
    event.preventDefault();
    const userId = byId("user-id").value.trim();
    const password = byId("password").value;
    if (!userId || !password) {
      say("Enter your user id and your password.", true);
      return;
    }
    byId("sign-in").disabled = true;
    say("Signing in…");
    const result = await api("POST", "/api/v1/auth/login", { user_id: userId, password });
    if (result.status !== 200) {
      byId("sign-in").disabled = false;
      byId("password").value = "";
      say(errorText(result, "login"), true);
      byId("password").focus();
      return;
    }
    byId("password").value = "";
    const next = safeNext();
    if (next) {
      // The link may point at an editor that is stopped: start it (a no-op when it runs).
      say("Signed in. Starting your editor…");
      const started = await api("POST", "/api/v1/code-server/start", {});
      if (started.status === 200 && started.data && started.data.url) {
        await waitUntilReady(started.data.url, 30);
      }
      window.location.assign(next);
      return;
    }
    showSignedIn(result.data.user_id || userId, null);
    say("");
    byId("open-editor").focus();
    await checkSession();
  }

  const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

  // Until the editor answers its /healthz through Traefik (a fresh route may need a moment),
  // for at most `seconds`. Only for an editor on this site; the answer is not read.
  async function waitUntilReady(url, seconds) {
    const target = new URL("healthz", url.endsWith("/") ? url : `${url}/`);
    if (target.origin !== window.location.origin) {
      return;
    }
    const deadline = Date.now() + seconds * 1000;
    while (Date.now() < deadline) {
      try {
        const response = await fetch(target.href, { credentials: "same-origin", cache: "no-store", redirect: "manual" });
        if (response.ok) {
          return;
        }
      } catch (error) {
        // not reachable yet
      }
      await sleep(500);
    }
  }

  async function openEditor() {
    byId("open-editor").disabled = true;
    say("Starting your editor…");
    const result = await api("POST", "/api/v1/code-server/start", {});
    const url = result.status === 200 ? editorUrl(result.data.url) : null;
    if (url) {
      await waitUntilReady(url, 30);
      say("Opening your editor…");
      window.location.assign(url);
      return;
    }
    byId("open-editor").disabled = false;
    if (result.status === 401) {
      showSignedOut();
    }
    say(result.status === 200 ? "The server answered without the editor's address." : errorText(result, "start"), true);
  }

  async function signOut() {
    byId("sign-out").disabled = true;
    await api("POST", "/api/v1/auth/logout", {});
    showSignedOut();
    say("You are signed out.");
  }

  async function checkHealth() {
    const result = await api("GET", "/api/health");
    byId("health").textContent =
      result.status === 200 && typeof result.data.status === "string"
        ? result.data.status
        : `unreachable (${result.status || "no answer"})`;
  }

  byId("login-form").addEventListener("submit", signIn);
  byId("open-editor").addEventListener("click", openEditor);
  byId("sign-out").addEventListener("click", signOut);
  say("Checking your session…");
  checkHealth();
  checkSession();
})();
