"""The console and the demo page in a real browser: headless Chromium from Debian's packages
(`chromium`, `chromium-driver`, which `make test` installs when missing) driven through
WebDriver (selenium, pinned in requirements-dev.txt), against a fresh otp-local.

`test_browser.py --binary PATH_TO_OTP_LOCAL --screenshots DIR`. Checks:
- the console shows an SMS within two seconds of a register made elsewhere, and the
  refusal that follows (the cooldown) with its rule and figures in the audit events;
- the try-it panel mints a token, registers, reads the code, verifies, and shows a token
  whose signature checks against /_local/jwks.json; a subject written as markup stays text;
- Reset empties the inbox;
- the demo page fills the code, counts down to resendAfter and expiresIn, shows
  attemptsLeft after a wrong code in words, verifies with the right one, and shows a
  refused number in words;
- no page logs a console error or a Content-Security-Policy violation (the 4xx answers the
  pages ask for on purpose, which Chromium reports as failed loads, excepted).
A screenshot of each page is written to DIR. When the browser cannot start, it fails saying
why: it never skips.
"""

import argparse
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
import urllib.request

CHROMIUM = "/usr/bin/chromium"
CHROMEDRIVER = "/usr/bin/chromedriver"
# The pages' own requests that answer 4xx on purpose (a wrong code, a cooldown, a bad number).
EXPECTED_4XX = re.compile(r"/fe/users/auth/otp/(register|verify|resend) - Failed to load resource: "
                          r"the server responded with a status of 4\d\d")


def fail(message):
    print(f"test_browser: {message}", file=sys.stderr)
    sys.exit(1)


def start_browser():
    for path, package in ((CHROMIUM, "chromium"), (CHROMEDRIVER, "chromium-driver")):
        if not os.access(path, os.X_OK):
            fail(f"{path} is missing: install Debian's {package} package (make test does: apt-get install {package})")
    try:
        from selenium import webdriver
        from selenium.webdriver.chrome.service import Service
    except ImportError as error:
        fail(f"selenium is not installed ({error}): run make test, which installs requirements-dev.txt")
    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for argument in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                     "--window-size=1280,1000", "--no-first-run", "--disable-extensions"):
        options.add_argument(argument)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    try:
        return webdriver.Chrome(service=Service(executable_path=CHROMEDRIVER), options=options)
    except Exception as error:  # the message says why: a missing library, a crash, a version skew
        fail(f"Chromium did not start under chromedriver: {error}")


def start_server(binary, state):
    env = {**os.environ, "OTP_LOCAL_STATE_DIR": state, "RUST_LOG": "warn"}
    env.pop("JWT_SECRET", None)
    server = subprocess.Popen([binary, "--port", "0"], env=env, stdout=subprocess.PIPE,
                              stderr=subprocess.DEVNULL, text=True)
    first = server.stdout.readline().strip()
    if not first.startswith("otp-local listening on "):
        server.kill()
        fail(f"otp-local did not start: {first!r}")
    # Keep reading, as a terminal would, so the server never writes into a full pipe.
    subprocess.Popen(["cat"], stdin=server.stdout, stdout=subprocess.DEVNULL)
    return server, first.removeprefix("otp-local listening on ")


def post(base, path, body, token=None):
    request = urllib.request.Request(base + path, data=json.dumps(body).encode(), method="POST")
    request.add_header("content-type", "application/json")
    request.add_header("origin", base)
    if token:
        request.add_header("user-jwt-token", token)
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, json.load(response)
    except urllib.error.HTTPError as error:
        return error.code, json.load(error)


class Page:
    """Waits and reads on the current page."""

    def __init__(self, driver):
        from selenium.webdriver.common.by import By
        from selenium.webdriver.support.ui import WebDriverWait
        self.driver, self.by, self.wait_class = driver, By, WebDriverWait

    def find(self, css):
        return self.driver.find_element(self.by.CSS_SELECTOR, css)

    def all(self, css):
        return self.driver.find_elements(self.by.CSS_SELECTOR, css)

    def until(self, what, check, seconds=5):
        try:
            return self.wait_class(self.driver, seconds, poll_frequency=0.05).until(lambda _: check())
        except Exception:
            fail(f"{what}, not within {seconds} s (page: {self.find('body').text[:600]!r})")

    def type(self, css, text):
        field = self.find(css)
        field.clear()
        field.send_keys(text)


def console_errors(driver, page):
    logged = driver.get_log("browser")
    problems = [entry["message"] for entry in logged
                if (entry["level"] == "SEVERE" and not EXPECTED_4XX.search(entry["message"]))
                or "Content Security Policy" in entry["message"]]
    if problems:
        fail(f"{page} logged errors: {problems}")


def check_console(driver, base, shots):
    page = Page(driver)
    driver.get(base + "/")
    page.until("the console loads", lambda: page.find("#events-empty").is_displayed())
    status, minted = post(base, "/_local/token", {"sub": "browser-test"})
    assert status == 200, minted
    phone = {"phone_number": "9876543210", "countryCode": "+91"}
    status, sent = post(base, "/fe/users/auth/otp/register", phone, minted["token"])
    assert status == 200, sent
    registered = time.monotonic()
    page.until("the console shows the SMS", lambda: any(
        "+919876543210" in item.text for item in page.all("#inbox li")), seconds=2)
    print(f"the SMS showed {time.monotonic() - registered:.2f} s after the register")
    status, refused = post(base, "/fe/users/auth/otp/register", phone, minted["token"])
    assert status == 429 and refused["retryAfter"] > 0, refused
    page.until("the console shows the cooldown with its figures", lambda: any(
        "cooldown" in item.text and "retry_after_seconds=" in item.text
        for item in page.all('#events li[data-event="otp.rate_limited"]')))

    page.type("#try-subject", "<img src=x id=injected>")
    page.type("#try-phone", "9876543211")
    page.find("#try-run").click()
    page.until("the try-it panel checks the token's signature",
               lambda: "signature checks" in page.find("#try-signature").text, seconds=8)
    assert "good" in page.find("#try-signature").get_attribute("class")
    claims = json.loads(page.find("#try-claims").text)
    assert claims["phone_number"] == "+919876543211" and claims["phone_number_verified"], claims
    assert claims["sub"] == "<img src=x id=injected>", claims
    assert not page.all("#injected"), "a subject written as markup became markup"
    assert "<img src=x id=injected>" in page.find("#try-steps").text
    page.until("the console shows the verification", lambda: page.all('#events li[data-event="otp.verified"]'))
    driver.save_screenshot(os.path.join(shots, "console.png"))

    page.find("#reset").click()
    page.until("Reset empties the inbox", lambda: not page.all("#inbox li"))
    page.until("the reset is in the events", lambda: page.all('#events li[data-event="local.reset"]'))
    console_errors(driver, "the console")


def check_demo(driver, base, shots):
    page = Page(driver)
    driver.get(base + "/_local/demo")
    code_field = page.find("#code")
    assert code_field.get_attribute("autocomplete") == "one-time-code"
    page.type("#phone", "9876543212")
    page.find("#send").click()
    page.until("the code form shows", lambda: page.find("#code-form").is_displayed())
    page.until("the code is filled from the SMS", lambda: re.fullmatch(r"\d{6}", code_field.get_attribute("value") or ""))
    right = code_field.get_attribute("value")
    resend = page.find("#resend")
    assert re.fullmatch(r"Resend code in \d+ s", resend.text) and not resend.is_enabled(), resend.text
    assert re.search(r"expires in \d:\d\d", page.find("#expiry").text), page.find("#expiry").text
    wrong = "000000" if right != "000000" else "111111"
    page.type("#code", wrong)
    page.find("#verify").click()
    page.until("a wrong code shows the attempts left in words",
               lambda: re.search(r"That code is not right\. \d+ attempts? left\.", page.find("#message").text))
    driver.save_screenshot(os.path.join(shots, "demo.png"))
    page.type("#code", right)
    page.find("#verify").click()
    page.until("the right code verifies", lambda: page.find("#done").is_displayed())

    driver.get(base + "/_local/demo")
    page.type("#phone", "12")
    page.find("#send").click()
    page.until("a refused number is said in words",
               lambda: "not a phone number we can send a code to" in page.find("#message").text)
    driver.save_screenshot(os.path.join(shots, "demo-refused.png"))
    console_errors(driver, "the demo page")


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--binary", required=True)
    parser.add_argument("--screenshots", required=True)
    args = parser.parse_args()
    os.makedirs(args.screenshots, exist_ok=True)
    state = tempfile.mkdtemp()
    server, base = start_server(args.binary, state)
    driver = start_browser()
    try:
        check_console(driver, base, args.screenshots)
        check_demo(driver, base, args.screenshots)
    finally:
        driver.quit()
        server.terminate()
        server.wait()
        shutil.rmtree(state, ignore_errors=True)
    print(f"the console and the demo page work in {driver.capabilities.get('browserVersion', 'Chromium')}; "
          f"screenshots in {args.screenshots}")


if __name__ == "__main__":
    main()
