// What every browser script shares: calling the server's API, checking, and closing the browser and the host
// page's server (bounded, so a hung browser cannot keep a failed run alive).

/** Throws `message` unless `condition` holds. */
export function check(condition, message) {
  if (!condition) throw new Error(message);
}

/** An API client for `serverUrl`: `api(method, path, { token, body, expect })`, where `expect` is the status
 *  (or statuses) that count as success; answers the parsed JSON body (or null). */
export function apiClient(serverUrl, stepMs) {
  return async function api(method, path, { token, body, expect = 200 } = {}) {
    const headers = { accept: 'application/json' };
    if (body !== undefined) headers['content-type'] = 'application/json';
    if (token) headers.authorization = `Bearer ${token}`;
    let response;
    try {
      response = await fetch(serverUrl + path, {
        method,
        headers,
        body: body === undefined ? undefined : JSON.stringify(body),
        signal: AbortSignal.timeout(stepMs),
      });
    } catch (err) {
      throw new Error(`${method} ${path}: request failed: ${err.message}`);
    }
    const text = await response.text();
    const allowed = Array.isArray(expect) ? expect : [expect];
    if (!allowed.includes(response.status)) {
      throw new Error(`${method} ${path}: expected ${allowed.join(' or ')}, got ${response.status}: ${text}`);
    }
    try {
      return text ? JSON.parse(text) : null;
    } catch {
      throw new Error(`${method} ${path}: body is not JSON: ${text}`);
    }
  };
}

/** Closes the browser and the host page's server (either may be null), waiting at most 5 s. */
export async function closeAll(browser, pageServer) {
  const closing = [];
  if (browser) closing.push(browser.close().catch(() => {}));
  if (pageServer) {
    pageServer.closeAllConnections?.();
    closing.push(new Promise((resolve) => pageServer.close(() => resolve())));
  }
  await Promise.race([Promise.all(closing), new Promise((resolve) => setTimeout(resolve, 5_000))]);
}
