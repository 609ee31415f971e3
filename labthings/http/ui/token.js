// The access token of this browser session, shared by the web page and the API docs.
// It is asked for when the server answers 401, or taken once from `?token=` in the address
// (which is then removed from it, as Jupyter does), and kept in sessionStorage: this tab
// forgets it when it closes. It is sent as `Authorization: Bearer`, and on event streams,
// which cannot send headers, as `?access_token=`.

const KEY = "labthings-token";

function takeTokenFromAddress() {
  const address = new URL(location.href);
  if (!address.searchParams.has("token")) return;
  const token = address.searchParams.get("token").trim();
  if (token) sessionStorage.setItem(KEY, token);
  address.searchParams.delete("token");
  history.replaceState(history.state, "", address); // out of the address bar and history
}

takeTokenFromAddress();

/** The session's token, or "" when there is none. */
export const storedToken = () => sessionStorage.getItem(KEY) || "";

/** The headers that carry the session's token (none without one). */
export function authorization() {
  const token = storedToken();
  return token ? { Authorization: `Bearer ${token}` } : {};
}

/** `target` with the token as `?access_token=`, for an EventSource. */
export function withToken(target) {
  const address = new URL(target, location.href);
  if (storedToken()) address.searchParams.set("access_token", storedToken());
  return address;
}

/** A Swagger UI request interceptor: the session's token unless the request has one. */
export function authorize(request) {
  if (!request.headers.Authorization) Object.assign(request.headers, authorization());
  return request;
}

/** Whether `target` can be read with the session's token; if not (401), ask for one. */
export async function readable(target) {
  const response = await fetch(target, { headers: authorization(), cache: "no-cache" });
  if (response.status !== 401) return true;
  askForToken();
  return false;
}

/** Show the token form (once): a token entered there is kept and the page reloaded. */
export function askForToken() {
  if (document.getElementById("token-form")) return;
  const refused = Boolean(storedToken());
  const form = document.createElement("form");
  form.id = "token-form";
  form.className = "token-form";
  form.innerHTML = `
    <h2 id="token-heading">Access token needed</h2>
    <p id="token-why"></p>
    <label for="token-input">Access token</label>
    <input id="token-input" name="token" type="password" autocomplete="off"
           spellcheck="false" required aria-describedby="token-why">
    <button type="submit">Use this token</button>`;
  form.setAttribute("aria-labelledby", "token-heading");
  form.querySelector("#token-why").textContent = refused
    ? "The server did not accept this session's token (it may have been revoked). Enter another."
    : "This lab server needs an access token. Its operator makes one with "
      + "“labthings token create NAME --scope read” (or --scope control, to change things).";
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    const token = form.elements.token.value.trim();
    if (!token) return;
    sessionStorage.setItem(KEY, token);
    location.reload();
  });
  (document.getElementById("token-slot") || document.body).prepend(form);
  form.elements.token.focus();
}
