'use strict';
// A sign-in form as an app writes it: send a code, fill it by WebOTP where the browser has
// it, count down to resendAfter and expiresIn, show attemptsLeft and every error in words.
// The app's session JWT is minted here by otp-local; a real app has its own.

(() => {
  const $ = (id) => document.getElementById(id);
  const subject = `demo-${crypto.randomUUID()}`;
  let token = null;
  let sent = null;
  let timers = [];
  let otpAbort = null;

  function say(text) {
    $('message').textContent = text;
  }

  function phone() {
    return { phone_number: $('phone').value.trim(), countryCode: $('country').value.trim() };
  }

  function stopTimers() {
    timers.forEach(clearInterval);
    timers = [];
  }

  /** Calls `tick(secondsLeft)` every second until `seconds` have passed. */
  function countdown(seconds, tick) {
    const end = Date.now() + seconds * 1000;
    const update = () => {
      const left = Math.max(0, Math.ceil((end - Date.now()) / 1000));
      tick(left);
      return left;
    };
    update();
    const timer = setInterval(() => { if (update() === 0) clearInterval(timer); }, 1000);
    timers.push(timer);
  }

  function clock(seconds) {
    return `${Math.floor(seconds / 60)}:${String(seconds % 60).padStart(2, '0')}`;
  }

  function started(answer) {
    sent = answer;
    stopTimers();
    $('phone-form').hidden = true;
    $('code-form').hidden = false;
    $('sent-to').textContent = `We sent a code to ${phone().countryCode} ${phone().phone_number}.`;
    countdown(answer.resendAfter, (left) => {
      $('resend').disabled = left > 0;
      $('resend').textContent = left > 0 ? `Resend code in ${left} s` : 'Resend code';
    });
    countdown(answer.expiresIn, (left) => {
      $('expiry').textContent = left > 0 ? `The code expires in ${clock(left)}.` : 'The code has expired. Ask for a new one.';
    });
    $('code').value = '';
    $('code').focus();
    autofill();
  }

  /** WebOTP where the browser has it (it answers on phones that get the SMS); on otp-local,
   * which sends no SMS, the inbox fills the code too, whichever comes first. */
  function autofill() {
    if (otpAbort) otpAbort.abort();
    otpAbort = new AbortController();
    const signal = otpAbort.signal;
    const fill = (code, source) => {
      if (signal.aborted || !code || $('code').value) return false;
      $('code').value = code;
      $('code').dataset.filledFrom = source;
      return true;
    };
    const since = Date.now() - 1000;
    if ('OTPCredential' in window) {
      $('autofill-note').textContent = 'This browser has WebOTP: on a phone that gets the SMS, the code fills itself.';
      navigator.credentials.get({ otp: { transport: ['sms'] }, signal })
        .then((credential) => { if (fill(credential.code, 'webotp')) $('code-form').requestSubmit(); })
        .catch(() => { /* dismissed or aborted: the code is typed */ });
    } else {
      $('autofill-note').textContent = 'This browser has no WebOTP: the code is typed, or filled from the inbox here.';
    }
    otp.awaitSms(phone().phone_number.replace(/\D/g, ''), since, 10000)
      .then((sms) => sms && fill(otp.codeIn(sms.body), 'otp-local inbox'))
      .catch(() => { /* the inbox is otp-local's only: elsewhere the code is typed */ });
  }

  async function send(submit) {
    submit.preventDefault();
    say('');
    $('send').disabled = true;
    try {
      token = token || await otp.mintToken(subject);
      const answer = await otp.post(otp.paths.register, phone(), token);
      if (answer.ok) started(answer.body);
      else say(otp.inWords(answer.body));
    } catch (error) {
      say(`The server could not be reached (${error.message}).`);
    } finally {
      $('send').disabled = false;
    }
  }

  async function resend() {
    say('');
    const answer = await otp.post(otp.paths.resend, phone(), token);
    if (answer.ok) started(answer.body);
    else say(otp.inWords(answer.body));
  }

  async function verify(submit) {
    submit.preventDefault();
    say('');
    const body = { ...phone(), authCode: sent.authCode, otp: $('code').value.trim() };
    const answer = await otp.post(otp.paths.verify, body, token);
    if (answer.ok) {
      stopTimers();
      if (otpAbort) otpAbort.abort();
      $('code-form').hidden = true;
      $('done').hidden = false;
      return;
    }
    say(otp.inWords(answer.body));
    $('code').select();
  }

  function otherNumber() {
    stopTimers();
    if (otpAbort) otpAbort.abort();
    say('');
    $('code-form').hidden = true;
    $('phone-form').hidden = false;
    $('phone').focus();
  }

  $('phone-form').addEventListener('submit', send);
  $('code-form').addEventListener('submit', verify);
  $('resend').addEventListener('click', resend);
  $('other-number').addEventListener('click', otherNumber);
})();
