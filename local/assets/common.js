'use strict';
// What the console and the demo page share: requests to this server, the error answers in
// words, the code in an SMS, and a verification token decoded and checked with WebCrypto.
// Every value reaches the page through textContent: nothing is parsed as markup.

const otp = (() => {
  const paths = {
    register: '/fe/users/auth/otp/register',
    verify: '/fe/users/auth/otp/verify',
    resend: '/fe/users/auth/otp/resend',
  };

  /** POSTs `body` as JSON, with the user's JWT when given; the status and the JSON answer. */
  async function post(path, body, token) {
    const headers = { 'content-type': 'application/json' };
    if (token) headers['user-jwt-token'] = token;
    const response = await fetch(path, { method: 'POST', headers, body: JSON.stringify(body) });
    let answer = {};
    try {
      answer = await response.json();
    } catch (_) {
      answer = { code: 'NOT_JSON', message: `The server answered ${response.status} without JSON` };
    }
    return { status: response.status, ok: response.ok, body: answer };
  }

  async function getJson(path) {
    const response = await fetch(path, { cache: 'no-store' });
    if (!response.ok) throw new Error(`${path} answered ${response.status}`);
    return response.json();
  }

  /** A development JWT for `subject`, minted by otp-local (an app has its own session's). */
  async function mintToken(subject) {
    const answer = await post('/_local/token', { sub: subject });
    if (answer.status === 404) {
      throw new Error('this otp-local mints no tokens: it was started with a JWT secret or key of '
        + 'your own, so the pages do not sign with it; restart it without JWT_SECRET, '
        + 'JWT_PUBLIC_KEY and JWT_JWKS_URL');
    }
    if (!answer.ok) throw new Error(inWords(answer.body));
    return answer.body.token;
  }

  /** An element with `text` and children; attributes set as attributes, never as markup. */
  function element(tag, attributes = {}, ...children) {
    const node = document.createElement(tag);
    for (const [name, value] of Object.entries(attributes)) {
      if (name === 'text') node.textContent = value;
      else node.setAttribute(name, value);
    }
    node.append(...children);
    return node;
  }

  function plural(count, noun) {
    return `${count} ${noun}${count === 1 ? '' : 's'}`;
  }

  /** `seconds` as a person says it: "45 seconds", "2 minutes", "1 hour". */
  function duration(seconds) {
    if (seconds < 90) return plural(seconds, 'second');
    const minutes = Math.round(seconds / 60);
    if (minutes < 90) return plural(minutes, 'minute');
    return plural(Math.round(minutes / 60), 'hour');
  }

  const words = {
    UN_AUTHORIZED: () => 'Your session has expired. Sign in again.',
    INVALID_REQUEST: () => 'Something in the request was missing or wrong.',
    INVALID_PHONE_NUMBER: () => 'That is not a phone number we can send a code to. Check the number and the country code.',
    UNSUPPORTED_NUMBER_TYPE: () => 'That kind of number cannot receive codes. Use a mobile number.',
    COUNTRY_NOT_ALLOWED: () => 'We cannot send codes to numbers in that country.',
    DESTINATION_NOT_ALLOWED: () => 'We cannot send codes to that number.',
    DESTINATION_THROTTLED: (body) => `We are not sending codes to numbers like this one for now. Try again in ${duration(body.retryAfter || 60)}.`,
    RATE_LIMITED: (body) => `Too many tries. Try again in ${duration(body.retryAfter || 1)}.`,
    OTP_NOT_FOUND: () => 'There is no code waiting for this number. Ask for a new one.',
    INVALID_OTP: (body) => body.attemptsLeft > 0
      ? `That code is not right. ${plural(body.attemptsLeft, 'attempt')} left.`
      : 'That code is not right, and it cannot be tried again. Ask for a new one.',
    OTP_EXPIRED: () => 'That code has expired. Ask for a new one.',
    OTP_ALREADY_USED: () => 'That code was already used. Ask for a new one.',
    TOO_MANY_ATTEMPTS: () => 'Too many wrong codes. Ask for a new one.',
    SMS_UNAVAILABLE: () => 'We could not send the SMS just now. Try again in a moment.',
    SERVICE_UNAVAILABLE: () => 'The service is busy. Try again in a moment.',
  };

  /** An error answer in words a user reads; the server's own message when the code is new. */
  function inWords(body) {
    const say = words[body && body.code];
    return say ? say(body) : (body && body.message) || 'Something went wrong.';
  }

  /** The code in an SMS: its WebOTP line (`@domain #code`) when it has one, else its digits. */
  function codeIn(text) {
    const webotp = text.match(/^@\S+ #(\d{4,10})\b/m);
    if (webotp) return webotp[1];
    const digits = text.match(/\b\d{4,10}\b/);
    return digits ? digits[0] : null;
  }

  /** The first SMS to a number ending in `digits` "sent" at or after `since` (ms). */
  async function awaitSms(digits, since, timeoutMs = 5000) {
    const deadline = Date.now() + timeoutMs;
    while (Date.now() < deadline) {
      const inbox = await getJson('/_local/sms');
      const found = inbox.find((sms) => sms.to.endsWith(digits) && sms.sent_at >= since);
      if (found) return found;
      await new Promise((resolve) => setTimeout(resolve, 150));
    }
    return null;
  }

  function base64urlBytes(text) {
    const base64 = text.replace(/-/g, '+').replace(/_/g, '/');
    const binary = atob(base64 + '='.repeat((4 - (base64.length % 4)) % 4));
    return Uint8Array.from(binary, (c) => c.charCodeAt(0));
  }

  function decodeToken(token) {
    const [header, claims, signature] = token.split('.');
    const json = (part) => JSON.parse(new TextDecoder().decode(base64urlBytes(part)));
    return {
      header: json(header),
      claims: json(claims),
      signingInput: new TextEncoder().encode(`${header}.${claims}`),
      signature: base64urlBytes(signature),
    };
  }

  const algorithms = {
    EdDSA: { key: { name: 'Ed25519' }, verify: { name: 'Ed25519' }, fields: ['kty', 'crv', 'x'] },
    ES256: {
      key: { name: 'ECDSA', namedCurve: 'P-256' },
      verify: { name: 'ECDSA', hash: 'SHA-256' },
      fields: ['kty', 'crv', 'x', 'y'],
    },
  };

  /** Checks a verification token's signature against /_local/jwks.json, with its kid. */
  async function checkToken(token) {
    const decoded = decodeToken(token);
    const { alg, kid } = decoded.header;
    const algorithm = algorithms[alg];
    if (!algorithm) return { ...decoded, valid: false, reason: `unknown algorithm ${alg}` };
    const jwks = await getJson('/_local/jwks.json');
    const jwk = jwks.keys.find((key) => key.kid === kid);
    if (!jwk) return { ...decoded, valid: false, reason: `no key ${kid} in the JWKS` };
    const bare = Object.fromEntries(algorithm.fields.map((field) => [field, jwk[field]]));
    const key = await crypto.subtle.importKey('jwk', bare, algorithm.key, false, ['verify']);
    const valid = await crypto.subtle.verify(
      algorithm.verify, key, decoded.signature, decoded.signingInput);
    return { ...decoded, valid, reason: valid ? `${alg}, key ${kid}` : 'the signature does not match' };
  }

  return { paths, post, getJson, mintToken, element, duration, plural, inWords, codeIn, awaitSms, checkToken };
})();
