"""`sam local invoke`, as far as a machine without Docker or Lambda images allows.

`test_sam_local.py --target-dir target/debug --moto URL`:
1. As CloudFormation deploys it: `AWS_ENDPOINT_URL` is absent from every function's
   environment by default and is `LocalEndpointUrl` when that parameter is given (the
   template's own Conditions and `!If`/`AWS::NoValue`, evaluated as CloudFormation does).
2. As SAM CLI runs it: the environment SAM CLI's own code (the version in .venv) gives each
   function from template.yaml, events/env.json and `--parameter-overrides`. SAM CLI cannot
   resolve an `!If` with an `AWS::NoValue` branch and passes the variable empty, so
   `LocalEndpointUrl` does not reach a function under `sam local invoke`; the test pins
   that, so a SAM CLI that fixes it fails here and the docs get updated. An empty
   `AWS_ENDPOINT_URL` must not stop a function.
3. Each function binary under the Runtime API emulator with exactly that environment (the
   endpoint set through the env vars file, the route that works), against moto, with each
   file of events/ for its route as the event: every answer is the one the event is for.
What was not run here: Docker, the Lambda images, the API Gateway emulation of `sam local
start-api`.
"""

import argparse
import json
import os
import sys
from pathlib import Path

import boto3
from samcli.lib.providers.sam_function_provider import SamFunctionProvider
from samcli.lib.providers.sam_stack_provider import SamLocalStackProvider
from samcli.local.lambdafn.env_vars import EnvironmentVariables
from samcli.yamlhelper import yaml_parse

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "harness"))
from lambda_runtime import FunctionProcess  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent.parent
TEMPLATE = ROOT / "template.yaml"
FUNCTIONS = {"RegisterFunction": "otp-register", "VerifyFunction": "otp-verify", "ResendFunction": "otp-resend"}
ROUTES = {"POST /fe/users/auth/otp/register": "RegisterFunction",
          "POST /fe/users/auth/otp/verify": "VerifyFunction",
          "POST /fe/users/auth/otp/resend": "ResendFunction"}
# What each event of events/ is for: the status (and code) its function must answer.
EXPECTED = {"register.json": (200, None), "register-bad-token.json": (401, "UN_AUTHORIZED"),
            "resend.json": (429, "RATE_LIMITED"), "verify.json": (401, "INVALID_OTP")}
# Parameters a deployment must give (no default); sam local needs them too.
REQUIRED = {"OtpAllowedCountries": "IN"}
NO_VALUE = object()


def cloudformation_environment(template, function, parameters):
    """The function's variables as CloudFormation would set them, given `parameters`."""
    values = {name: str(spec.get("Default", "")) for name, spec in template["Parameters"].items()}
    values.update(parameters)

    def resolve(value):
        if isinstance(value, dict) and len(value) == 1:
            (name, argument), = value.items()
            if name == "Ref":
                return NO_VALUE if argument == "AWS::NoValue" else values.get(argument, f"<{argument}>")
            if name == "Fn::If":
                condition, when_true, when_false = argument
                return resolve(when_true if holds(condition) else when_false)
            return f"<{name}>"
        return value

    def holds(condition):
        expression = template["Conditions"][condition] if isinstance(condition, str) else condition
        (name, argument), = expression.items()
        if name == "Fn::Equals":
            return resolve(argument[0]) == resolve(argument[1])
        if name == "Fn::Not":
            return not holds(argument[0])
        if name == "Fn::And":
            return all(holds(part) for part in argument)
        if name == "Fn::Or":
            return any(holds(part) for part in argument)
        if name == "Condition":
            return holds(argument)
        raise ValueError(f"condition {name} is not evaluated here")

    variables = template["Resources"][function]["Properties"]["Environment"]["Variables"]
    resolved = {name: resolve(value) for name, value in variables.items()}
    return {name: value for name, value in resolved.items() if value is not NO_VALUE}


def sam_environment(parameters, env_vars):
    """Each function's environment as `sam local invoke` computes it (SAM CLI's own code)."""
    stacks, _ = SamLocalStackProvider.get_stacks(str(TEMPLATE), parameter_overrides=parameters)
    provider = SamFunctionProvider(stacks, ignore_code_extraction_warnings=True)
    environments = {}
    for name in FUNCTIONS:
        function = provider.get(name)
        overrides = {**env_vars.get("Parameters", {}), **env_vars.get(name, {})}
        variables = EnvironmentVariables(
            function.name, function.memory, function.timeout, function.handler, function.logging_config,
            variables=function.environment["Variables"], shell_env_values={}, override_values=overrides,
            aws_creds={"region": "us-east-1", "key": "testing", "secret": "testing"},
        )
        environments[name] = variables.resolve()
    return environments


def create_table(moto, name):
    client = boto3.client("dynamodb", endpoint_url=moto, region_name="us-east-1",
                          aws_access_key_id="testing", aws_secret_access_key="testing")
    if name not in client.list_tables()["TableNames"]:
        client.create_table(TableName=name, BillingMode="PAY_PER_REQUEST",
                            AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}],
                            KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}])


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--target-dir", required=True)
    parser.add_argument("--moto", required=True)
    args = parser.parse_args()
    template = yaml_parse(TEMPLATE.read_text())
    failures = []

    for function in FUNCTIONS:
        deployed = cloudformation_environment(template, function, REQUIRED)
        if "AWS_ENDPOINT_URL" in deployed:
            failures.append(f"{function}: AWS_ENDPOINT_URL is set by default: {deployed['AWS_ENDPOINT_URL']!r}")
        local = cloudformation_environment(template, function, {**REQUIRED, "LocalEndpointUrl": args.moto})
        if local.get("AWS_ENDPOINT_URL") != args.moto:
            failures.append(f"{function}: LocalEndpointUrl does not set AWS_ENDPOINT_URL: {local}")
    print("CloudFormation: AWS_ENDPOINT_URL absent by default, LocalEndpointUrl when given")

    env_file = json.loads((ROOT / "events" / "env.json").read_text())
    by_parameter = sam_environment({**REQUIRED, "LocalEndpointUrl": args.moto}, env_file)
    for function, environment in by_parameter.items():
        if environment.get("AWS_ENDPOINT_URL") != "":
            failures.append(f"{function}: SAM CLI now passes AWS_ENDPOINT_URL="
                            f"{environment.get('AWS_ENDPOINT_URL')!r} from LocalEndpointUrl; update docs/testing.md")
    print("SAM CLI: LocalEndpointUrl reaches no function (SAM CLI passes AWS_ENDPOINT_URL empty)")
    # The empty value SAM CLI passes must not stop a function: start one with it, the
    # services reached through their own endpoint variables.
    empty = {**by_parameter["RegisterFunction"], "AWS_ENDPOINT_URL_DYNAMODB": args.moto,
             "AWS_ENDPOINT_URL_SNS": args.moto, "TABLE_NAME": "otp-codes"}
    process = FunctionProcess().start(Path(args.target_dir) / FUNCTIONS["RegisterFunction"], env=empty)
    try:
        process.wait_ready()
        print("an empty AWS_ENDPOINT_URL does not stop a function")
    except Exception as error:
        failures.append(f"an empty AWS_ENDPOINT_URL stops RegisterFunction: {error}")
    finally:
        process.stop()

    with_endpoint = {**env_file, "Parameters": {**env_file["Parameters"], "AWS_ENDPOINT_URL": args.moto}}
    environments = sam_environment(REQUIRED, with_endpoint)
    create_table(args.moto, environments["RegisterFunction"]["TABLE_NAME"])
    events = sorted((ROOT / "events").glob("*.json"))
    for function, binary in FUNCTIONS.items():
        environment = environments[function]
        process = FunctionProcess().start(Path(args.target_dir) / binary, env=environment, name=function)
        try:
            process.wait_ready()
            for path in events:
                event = json.loads(path.read_text())
                if ROUTES.get(event.get("routeKey")) != function:
                    continue
                status, body = process.invoke(event).http_response()
                expected = EXPECTED[path.name]
                seen = (status, body.get("code") if isinstance(body, dict) else None)
                if seen != expected:
                    failures.append(f"{function} with events/{path.name}: {seen}, expected {expected}: {body}")
                else:
                    print(f"{function} with events/{path.name}: {status} {body.get('code', '')}")
        except Exception as error:  # the function did not start or answer: say so with its log
            failures.append(f"{function}: {error}\n{process.logs()[-2000:]}")
        finally:
            process.stop()

    if failures:
        print("\n".join(failures), file=sys.stderr)
        sys.exit(1)
    print("each function answers each of its events under the environment sam local invoke gives it")


if __name__ == "__main__":
    main()
