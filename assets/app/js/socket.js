// The live stream: the plain WebSocket `/ws/dashboard` (same origin, so the session cookie authenticates it
// and no Socket.IO client has to be vendored). It keeps the `offset` and `epoch` of the last event and
// reconnects with them (backoff 0.5 s → 15 s with jitter), so the server replays what was missed
// (`recovery:ready`) or says the place is lost (`recovery:reset`, the app refetches).

const PING_MS = 20_000;

/** The dashboard socket; `on(event, fn)` for server events plus `status` ('connecting' | 'open' | 'down' | 'revoked'). */
export class DashboardSocket {
  constructor() {
    this.handlers = new Map();
    this.position = null; // {offset, epoch} of the last event seen
    this.attempt = 0;
    this.ws = null;
    this.stopped = false;
    this.status = 'connecting';
  }

  on(event, fn) {
    if (!this.handlers.has(event)) this.handlers.set(event, new Set());
    this.handlers.get(event).add(fn);
  }

  emit(event, data) {
    for (const fn of this.handlers.get(event) || []) {
      try {
        fn(data);
      } catch (err) {
        console.error(`handler for ${event} failed`, err);
      }
    }
  }

  setStatus(status) {
    if (this.status === status) return;
    this.status = status;
    this.emit('status', status);
  }

  /** Opens the socket (and keeps it open until `stop`). */
  start() {
    this.stopped = false;
    const scheme = location.protocol === 'https:' ? 'wss' : 'ws';
    const resume = this.position ? `?offset=${this.position.offset}&epoch=${encodeURIComponent(this.position.epoch)}` : '';
    const ws = new WebSocket(`${scheme}://${location.host}/ws/dashboard${resume}`);
    this.ws = ws;
    ws.onopen = () => {
      this.attempt = 0;
      this.pinger = setInterval(() => ws.readyState === 1 && ws.send('{"type":"ping"}'), PING_MS);
    };
    ws.onmessage = (frame) => this.receive(frame.data);
    ws.onclose = (close) => {
      clearInterval(this.pinger);
      if (this.ws !== ws || this.stopped) return;
      if (close.code === 4003) {
        this.setStatus('revoked');
        return;
      }
      this.setStatus('down');
      const delay = Math.min(15_000, 500 * 2 ** this.attempt) * (0.5 + Math.random() / 2);
      this.attempt += 1;
      this.timer = setTimeout(() => this.start(), delay);
    };
  }

  receive(text) {
    let frame;
    try {
      frame = JSON.parse(text);
    } catch {
      return;
    }
    if (!frame || typeof frame.event !== 'string' || frame.event === 'pong') return;
    if (typeof frame.offset === 'number' && frame.epoch) this.position = { offset: frame.offset, epoch: frame.epoch };
    if (frame.event === 'recovery:ready' || frame.event === 'recovery:reset') {
      const { offset, epoch } = frame.data || {};
      if (typeof offset === 'number' && epoch) this.position = { offset, epoch };
      this.setStatus('open');
    }
    this.emit(frame.event, frame.data);
  }

  /** Sends a frame if the socket is open (typing); returns whether it went. */
  send(frame) {
    if (this.ws?.readyState !== 1) return false;
    this.ws.send(JSON.stringify(frame));
    return true;
  }

  /** Reconnects now (after the browser says it is back online). */
  kick() {
    if (this.status !== 'down') return;
    clearTimeout(this.timer);
    this.attempt = 0;
    this.start();
  }

  stop() {
    this.stopped = true;
    clearTimeout(this.timer);
    clearInterval(this.pinger);
    this.ws?.close(1000);
  }
}
