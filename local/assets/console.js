'use strict';
// The console: the inbox and the audit events, polled twice a second, a reset, and a
// "try it" run of register, SMS, verify and the token's signature check.

(() => {
  const { element, duration, plural } = otp;
  const $ = (id) => document.getElementById(id);
  let lastEvent = 0;
  let shownSms = '';
  // As many events as the server keeps (FEED_CAPACITY).
  const KEPT_EVENTS = 500;

  function time(ms) {
    return new Date(ms).toLocaleTimeString([], { hour12: false });
  }

  function renderInbox(messages) {
    const last = messages[messages.length - 1];
    const shown = `${messages.length}:${last ? last.sent_at : ''}`;
    if (shown === shownSms) return;
    shownSms = shown;
    $('inbox-count').textContent = messages.length ? `(${messages.length})` : '';
    $('inbox-empty').hidden = messages.length > 0;
    const items = messages.slice().reverse().map((sms) => element('li', { class: 'sms' },
      element('div', { class: 'meta', text:
        `${time(sms.sent_at)} · to ${sms.to} · ${sms.locale} · ${plural(sms.segments, 'segment')}` }),
      element('pre', { class: 'sms-body', text: sms.body })));
    $('inbox').replaceChildren(...items);
  }

  // What each audit event says, in words; its fields follow as figures.
  const said = {
    'otp.sent': (f) => `Code sent to ${f.phone}${f.test_number ? ' (a test number: no SMS)' : ''}`,
    'otp.verified': (f) => `${f.phone} verified`,
    'otp.reassigned': (f) => `${f.phone} changed hands to this subject`,
    'otp.failed': (f) => f.attempts_left !== undefined
      ? `Wrong code for ${f.phone}: ${plural(f.attempts_left, 'attempt')} left`
      : `Check refused for ${f.phone}: ${f.reason}`,
    'otp.locked': (f) => `Wrong code for ${f.phone}: the code is locked`,
    'otp.refused': (f) => `Send to ${f.phone || 'a number'} refused by the ${f.rule} rule`,
    'otp.would_refuse': (f) => `Monitor mode: the ${f.rule} rule would refuse ${f.phone}`,
    'otp.rate_limited': (f) => `Rate limited (${f.rule}): retry in ${duration(f.retry_after_seconds || 1)}`,
    'otp.sms_failed': (f) => `The SMS to ${f.phone} failed`,
    'otp.withdraw_failed': () => 'A failed send could not be taken back',
    'auth.refused': (f) => `Request refused: ${f.reason}`,
    'local.reset': () => 'Reset: codes, counters, owners, the breaker and the inbox cleared',
  };
  const quiet = new Set(['event', 'endpoint', 'request_id', 'subject', 'message']);

  function kind(name) {
    return (name || '').split('.').pop();
  }

  function renderEvent(event) {
    const fields = event.fields;
    const say = said[fields.event] || (() => fields.message || fields.event);
    const figures = Object.entries(fields)
      .filter(([name]) => !quiet.has(name))
      .map(([name, value]) => `${name}=${value}`)
      .join(' · ');
    return element('li', { class: `event event-${kind(fields.event)}`, 'data-event': fields.event || '' },
      element('div', { class: 'meta', text: `${time(event.at)} · ${fields.event || ''} · ${fields.endpoint || ''}` }),
      element('div', { class: 'what', text: say(fields) }),
      element('div', { class: 'figures', text: figures }));
  }

  async function poll() {
    try {
      const [messages, events] = await Promise.all([
        otp.getJson('/_local/sms'),
        otp.getJson(`/_local/events?after=${lastEvent}`),
      ]);
      renderInbox(messages);
      if (events.length) {
        lastEvent = events[events.length - 1].seq;
        $('events-empty').hidden = true;
        $('events').prepend(...events.reverse().map(renderEvent));
        const list = $('events');
        while (list.children.length > KEPT_EVENTS) list.lastElementChild.remove();
      }
      $('status').textContent = '';
    } catch (error) {
      $('status').textContent = `otp-local does not answer (${error.message}); retrying.`;
    }
    setTimeout(poll, 500);
  }

  async function reset() {
    const answer = await otp.post('/_local/reset', {});
    if (!answer.ok) {
      $('status').textContent = otp.inWords(answer.body);
      return;
    }
    $('events').replaceChildren();
    shownSms = '';
    $('status').textContent = 'Reset done.';
  }

  function step(text, failed = false) {
    const item = element('li', { text });
    if (failed) item.className = 'failed';
    $('try-steps').append(item);
  }

  async function tryIt(submit) {
    submit.preventDefault();
    $('try-steps').replaceChildren();
    $('try-token').hidden = true;
    const subject = $('try-subject').value.trim();
    const phone = { phone_number: $('try-phone').value.trim(), countryCode: $('try-country').value.trim() };
    const digits = phone.phone_number.replace(/\D/g, '');
    try {
      const token = await otp.mintToken(subject);
      step(`Minted a development JWT for "${subject}" (POST /_local/token).`);
      const since = Date.now() - 1000;
      const sent = await otp.post(otp.paths.register, phone, token);
      if (!sent.ok) return step(`Register answered ${sent.status}: ${otp.inWords(sent.body)}`, true);
      step(`Registered: authCode ${sent.body.authCode}, the code lives ${duration(sent.body.expiresIn)}, a resend is allowed in ${duration(sent.body.resendAfter)}.`);
      const sms = await otp.awaitSms(digits, since);
      const code = sms && otp.codeIn(sms.body);
      if (!code) return step('No SMS arrived in the inbox within 5 seconds.', true);
      step(`The SMS to ${sms.to} arrived; its code is ${code}.`);
      const verified = await otp.post(otp.paths.verify, { ...phone, authCode: sent.body.authCode, otp: code }, token);
      if (!verified.ok) return step(`Verify answered ${verified.status}: ${otp.inWords(verified.body)}`, true);
      step(`Verified: ${verified.body.message}.`);
      if (!verified.body.verificationToken) return step('No verification token: none is configured.');
      const checked = await otp.checkToken(verified.body.verificationToken);
      $('try-header').textContent = JSON.stringify(checked.header, null, 2);
      $('try-claims').textContent = JSON.stringify(checked.claims, null, 2);
      const verdict = $('try-signature');
      verdict.textContent = checked.valid
        ? `The signature checks against /_local/jwks.json (${checked.reason}).`
        : `The signature does NOT check: ${checked.reason}.`;
      verdict.className = `verdict ${checked.valid ? 'good' : 'bad'}`;
      $('try-token').hidden = false;
    } catch (error) {
      step(`Failed: ${error.message}`, true);
    }
  }

  $('reset').addEventListener('click', reset);
  $('try-form').addEventListener('submit', tryIt);
  poll();
})();
