// The HTTP API client. The session is the HttpOnly `sb_token` cookie login sets (never readable here),
// so every call is same-origin with credentials. A 401 outside the login calls means the session ended.

/** An error answer: `status`, the server's `code` and `message`; status 0 means the request never got an answer. */
export class ApiError extends Error {
  constructor(status, code, message) {
    super(message);
    this.status = status;
    this.code = code;
  }
  /** Worth sending again later: no answer, or the server was restarting or overloaded. */
  get retryable() {
    return this.status === 0 || this.status === 502 || this.status === 503 || this.status === 504 || this.code === 'rate_limited';
  }
}

const listeners = new Set();

/** Calls `fn` when the session has expired or was revoked. */
export function onSessionEnded(fn) {
  listeners.add(fn);
}

/** One API call; resolves to the JSON body (or null for 204), rejects with ApiError. */
export async function api(method, path, body, { timeoutMs = 15_000 } = {}) {
  const headers = { accept: 'application/json' };
  if (body !== undefined) headers['content-type'] = 'application/json';
  let response;
  try {
    response = await fetch(path, {
      method,
      headers,
      credentials: 'same-origin',
      body: body === undefined ? undefined : JSON.stringify(body),
      signal: AbortSignal.timeout(timeoutMs),
    });
  } catch (err) {
    throw new ApiError(0, 'network', 'The server cannot be reached');
  }
  const text = await response.text();
  let json = null;
  try {
    json = text ? JSON.parse(text) : null;
  } catch {
    json = null;
  }
  if (response.ok) return json;
  const code = json?.error?.code || `http_${response.status}`;
  const message = json?.error?.message || response.statusText || 'Request failed';
  if (response.status === 401 && !path.startsWith('/api/auth/login') && !path.startsWith('/api/team/invitations/accept')) {
    for (const fn of listeners) fn(code);
  }
  throw new ApiError(response.status, code, message);
}

/** A query string from an object, leaving out empty values. */
export function query(params) {
  const search = new URLSearchParams();
  for (const [key, value] of Object.entries(params)) {
    if (value !== undefined && value !== null && value !== '' && value !== false) search.set(key, String(value));
  }
  const text = search.toString();
  return text ? `?${text}` : '';
}

/** A fresh idempotency id for a message. */
export function newClientMsgId() {
  if (globalThis.crypto?.randomUUID) return crypto.randomUUID();
  const bytes = crypto.getRandomValues(new Uint8Array(16));
  return Array.from(bytes, (b) => b.toString(16).padStart(2, '0')).join('');
}
