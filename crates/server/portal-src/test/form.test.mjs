// The schema-to-form renderer against every schema of the catalog: each builds a form without
// an unknown construct, every property is a field, secrets are secret, required fields are
// required, and every example of every connector goes into the form and comes back out as the
// same JSON. Runs on the compiled modules: PORTAL_BUILD names their directory, CATALOG the
// catalog document.

import { test } from "node:test";
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { pathToFileURL } from "node:url";

const build = process.env.PORTAL_BUILD;
const catalogPath = process.env.CATALOG;
assert.ok(build && catalogPath, "PORTAL_BUILD and CATALOG must be set");
const { formOf, UnsupportedSchema } = await import(pathToFileURL(join(build, "schema.js")).href);
const { fill, collect } = await import(pathToFileURL(join(build, "state.js")).href);
const catalog = JSON.parse(readFileSync(catalogPath, "utf8"));

/** Every field of a form, depth first. */
function* fields(field) {
  yield field;
  const kind = field.kind;
  if (kind.type === "object") for (const f of kind.fields) yield* fields(f);
  if (kind.type === "map") yield* fields(kind.value);
  if (kind.type === "list") yield* fields(kind.item);
  if (kind.type === "choice") for (const o of kind.options) yield* fields(o.field);
}

const forms = [];
for (const connector of catalog.connectors) {
  for (const part of ["config_schema", "auth_config_schema"]) {
    forms.push([connector, part, connector[part]]);
  }
}

test("the catalog has connectors to check", () => {
  assert.ok(catalog.connectors.length >= 10);
});

for (const [connector, part, schema] of forms) {
  const name = `${connector.type} ${part}`;

  test(`${name}: a form of known fields`, () => {
    const form = formOf(schema);
    assert.equal(form.kind.type, "object", name);
    const keys = form.kind.fields.map((f) => f.key);
    assert.deepEqual(keys, Object.keys(schema.properties ?? {}), name);
    const required = new Set(schema.required ?? []);
    for (const f of form.kind.fields) assert.equal(f.required, required.has(f.key), `${name} ${f.key}`);
    for (const f of fields(form)) {
      assert.ok(f.path === "" || f.path.startsWith("/"), `${name}: ${f.path}`);
      if (f.key) assert.ok(f.label.length > 0, `${name}: ${f.path} has a label`);
    }
  });

  test(`${name}: write-only values are secret inputs`, () => {
    const text = JSON.stringify(schema);
    const form = formOf(schema);
    const secrets = [...fields(form)].filter((f) => f.kind.type === "text" && f.kind.secret);
    assert.equal(secrets.length > 0, text.includes('"writeOnly":true'), name);
  });

  for (const example of connector.examples ?? []) {
    const value = part === "config_schema" ? example.config : example.auth_config;
    if (value === undefined) continue;
    test(`${name}: example "${example.name}" goes in and comes back out`, () => {
      const form = formOf(schema);
      const problems = [];
      const back = collect(form, fill(form, value), problems);
      assert.deepEqual(problems, [], name);
      assert.deepEqual(back ?? {}, value, name);
    });
  }
}

test("an empty form names each required field by its path", () => {
  const webhook = catalog.connectors.find((c) => c.type === "webhook");
  const form = formOf(webhook.config_schema);
  const problems = [];
  collect(form, fill(form, undefined), problems);
  assert.ok(problems.some((p) => p.path === "/url" && p.message === "is required"), JSON.stringify(problems));
});

test("a choice picks the alternative its value fits", () => {
  const webhook = catalog.connectors.find((c) => c.type === "webhook");
  const form = formOf(webhook.auth_config_schema);
  const credentials = form.kind.fields.find((f) => f.key === "credentials");
  assert.equal(credentials.kind.type, "choice");
  const state = fill(credentials, { type: "bearer", token: "t" });
  assert.equal(credentials.kind.options[state.index].tag.value, "bearer");
  assert.deepEqual(collect(credentials, state), { type: "bearer", token: "t" });
});

test("a stored secret left empty is kept, a new one replaces it", () => {
  const kafka = catalog.connectors.find((c) => c.type === "kafka");
  const form = formOf(kafka.auth_config_schema);
  const state = fill(form, { security_protocol: "sasl_ssl", username: "u" });
  state.fields.password.stored = true;
  assert.deepEqual(collect(form, state), { security_protocol: "sasl_ssl", username: "u" });
  state.fields.password.value = "new";
  assert.equal(collect(form, state).password, "new");
});

test("a schema this renderer does not know is refused, not guessed", () => {
  assert.throws(() => formOf({ type: "object", properties: { x: { type: "tuple" } } }), UnsupportedSchema);
  assert.throws(() => formOf({ type: "object", properties: { x: { $ref: "#/$defs/Missing" } } }), UnsupportedSchema);
});

test("numbers are checked as they are collected", () => {
  const form = formOf({ type: "object", properties: { n: { type: "integer" } }, required: ["n"] });
  const state = fill(form, { n: 3 });
  state.fields.n.value = "2.5";
  const problems = [];
  collect(form, state, problems);
  assert.deepEqual(problems, [{ path: "/n", message: "must be a whole number" }]);
});
