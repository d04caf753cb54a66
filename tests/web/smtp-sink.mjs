// A minimal SMTP server for the browser tests: it accepts every message
// (no TLS, no AUTH) and keeps it, decoded, so that a test can follow the
// link pace mailed. Enough SMTP for libcurl: 220, EHLO/HELO 250, MAIL and
// RCPT 250, DATA 354 ... "." 250, RSET/NOOP 250, QUIT 221; anything else
// 502 (STARTTLS is not offered, so it is not asked for). Import it through
// harness.mjs (startSmtpSink).

import net from 'node:net';

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

/** The headers of a MIME entity (folded lines unfolded), names lower case. */
function parseHeaders(text) {
  const out = {};
  for (const line of text.replace(/\r?\n[ \t]+/g, ' ').split(/\r?\n/)) {
    const i = line.indexOf(':');
    if (i > 0) out[line.slice(0, i).trim().toLowerCase()] = line.slice(i + 1).trim();
  }
  return out;
}

function decodeQuotedPrintable(body) {
  const bin = body.replace(/=\r?\n/g, '').replace(/=([0-9A-Fa-f]{2})/g, (_, h) => String.fromCharCode(parseInt(h, 16)));
  return Buffer.from(bin, 'latin1').toString('utf8');
}

/**
 * The decoded leaf parts of a message or part (raw: latin1, one char a
 * byte): [{type, text}]. multipart/* is split at its boundary; base64,
 * quoted-printable, 7bit and 8bit bodies are decoded to UTF-8 text.
 */
export function mimeParts(raw) {
  const cut = /\r?\n\r?\n/.exec(raw);
  const head = cut ? raw.slice(0, cut.index) : raw;
  const body = cut ? raw.slice(cut.index + cut[0].length) : '';
  const h = parseHeaders(head);
  const type = (h['content-type'] || 'text/plain').toLowerCase();
  const b = /boundary=(?:"([^"]+)"|([^;\s]+))/i.exec(h['content-type'] || '');
  if (type.startsWith('multipart/') && b) {
    const boundary = '--' + (b[1] || b[2]);
    const out = [];
    const pieces = body.split(boundary).slice(1); // before the first: the preamble
    for (const piece of pieces) {
      if (piece.startsWith('--')) break; // the closing delimiter
      out.push(...mimeParts(piece.replace(/^[ \t]*\r?\n/, '').replace(/\r?\n$/, '')));
    }
    return out;
  }
  const cte = (h['content-transfer-encoding'] || '').toLowerCase();
  let text;
  if (cte === 'base64') text = Buffer.from(body.replace(/\s+/g, ''), 'base64').toString('utf8');
  else if (cte === 'quoted-printable') text = decodeQuotedPrintable(body);
  else text = Buffer.from(body, 'latin1').toString('utf8');
  return [{ type: type.split(';')[0].trim(), text }];
}

/**
 * Starts the sink on a free loopback port.
 *   url                 smtp://127.0.0.1:<port>, for PACE_SMTP_URL
 *   messages            [{from, to: [addresses], raw, headers, parts, text}] (text: the text/plain parts)
 *   waitForMessage(fn)  the first message, not yet taken, for which fn(message) is true (waits, then throws)
 *   link(to, page)      waits for a mail to `to` with a link to /app/<page>#token=...: {url, token, message}
 *   stop()
 */
export async function startSmtpSink({ timeoutMs = 20_000 } = {}) {
  const messages = [];
  const taken = new Set();
  const sockets = new Set();
  const server = net.createServer((socket) => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
    socket.on('error', () => {});
    socket.setEncoding('latin1');
    let buf = '';
    let data = null; // lines of the message while in DATA
    let from = '';
    let to = [];
    const reply = (s) => socket.write(s + '\r\n');
    reply('220 pace-test-sink ESMTP');
    socket.on('data', (chunk) => {
      buf += chunk;
      let i;
      while ((i = buf.indexOf('\r\n')) >= 0) {
        const line = buf.slice(0, i);
        buf = buf.slice(i + 2);
        if (data) {
          if (line === '.') {
            const raw = data.join('\r\n');
            const cut = /\r?\n\r?\n/.exec(raw);
            const parts = mimeParts(raw);
            messages.push({
              from, to, raw, parts,
              headers: parseHeaders(cut ? raw.slice(0, cut.index) : raw),
              text: parts.filter((p) => p.type === 'text/plain').map((p) => p.text).join('\n'),
            });
            data = null;
            from = '';
            to = [];
            reply('250 2.0.0 queued');
          } else {
            data.push(line.startsWith('.') ? line.slice(1) : line); // dot-stuffing
          }
          continue;
        }
        const verb = line.slice(0, 4).toUpperCase();
        if (verb === 'EHLO') reply('250-pace-test-sink\r\n250-8BITMIME\r\n250 SMTPUTF8');
        else if (verb === 'HELO') reply('250 pace-test-sink');
        else if (verb === 'MAIL') { from = (/<([^>]*)>/.exec(line) || [])[1] || ''; to = []; reply('250 2.1.0 ok'); }
        else if (verb === 'RCPT') { to.push((/<([^>]*)>/.exec(line) || [])[1] || ''); reply('250 2.1.5 ok'); }
        else if (verb === 'DATA') { data = []; reply('354 end with <CRLF>.<CRLF>'); }
        else if (verb === 'RSET') { from = ''; to = []; reply('250 ok'); }
        else if (verb === 'NOOP') reply('250 ok');
        else if (verb === 'QUIT') { reply('221 bye'); socket.end(); }
        else reply('502 5.5.2 not implemented');
      }
    });
  });
  await new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', resolve);
  });
  const { port } = server.address();

  async function waitForMessage(fn, what = 'a message') {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const m = messages.find((x) => !taken.has(x) && fn(x));
      if (m) {
        taken.add(m);
        return m;
      }
      if (Date.now() > deadline) {
        const seen = messages.map((x) => `${x.to.join(',')}: ${x.headers.subject || ''}`).join('; ');
        throw new Error(`smtp sink: no ${what} within ${timeoutMs} ms (messages: ${seen || 'none'})`);
      }
      await sleep(50);
    }
  }

  return {
    port,
    url: `smtp://127.0.0.1:${port}`,
    messages,
    waitForMessage,
    async link(to, page) {
      const re = new RegExp(`(https?://[^\\s"<>]*/app/${page}#token=([A-Za-z0-9_-]{43}))(?![A-Za-z0-9_-])`);
      const message = await waitForMessage((m) => m.to.includes(to) && re.test(m.text), `mail to ${to} with a /app/${page} link`);
      const [, url, token] = re.exec(message.text);
      return { url, token, message };
    },
    async stop() {
      for (const s of sockets) s.destroy();
      await new Promise((r) => server.close(r));
    },
  };
}
