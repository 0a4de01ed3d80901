#!/usr/bin/env node
// validate.mjs — checks real provd HTTP exchanges against api/openapi.yaml.
//
//   node validate.mjs routes SPEC
//       prints the spec's operations, one "METHOD PATH" per line, sorted.
//   node validate.mjs ops SPEC
//       prints "METHOD PATH AUTH" per operation; AUTH is open (security: []), read (no token or
//       apiToken), admin (apiToken only), install (installToken only) or node (nodeCredential
//       only).
//   node validate.mjs check SPEC METHOD PATH STATUS HEADERS_FILE BODY_FILE [REQUEST_BODY_FILE]
//       validates one exchange.  PATH is a concrete path (with query string) or a path template
//       of the spec.  HEADERS_FILE is what `curl -D` wrote.
//   node validate.mjs batch SPEC DIR
//       validates every DIR/*.json exchange record ({"label", "method", "path", "status",
//       "headers", "body", "request_body"?, "expect_invalid"?}: file names relative to DIR), then
//       checks coverage: every operation of the spec, every documented status of it (except
//       5XX ranges: provd's internal failures cannot be provoked from outside), a 405 for every
//       path and a 404 for an unknown path were seen.  Exit 1 on any failure, listing them all.
//       Options after DIR: --no-coverage; --exempt "METHOD PATH STATUS" (repeatable): a
//       documented status the caller cannot provoke, with its reason in the caller.
//   node validate.mjs unmatched SPEC < PATHS
//       prints the paths (one per line on stdin) that match no path of the spec.
//
// What is checked for each exchange:
//   - the path matches a path of the spec (else it must be the 404 NotFound answer), the method
//     is one of that path (else it must be the 405 answer, with Allow = exactly the path's
//     methods), the status is documented for the operation (exact, or a 5XX-style range);
//   - every header the response declares `required` is present and matches its schema;
//   - Content-Type is one of the response's media types (exactly, parameters included);
//     HEAD, 304 and responses without content have an empty body;
//   - the body validates against the media type's schema with ajv (JSON Schema 2020-12,
//     strict mode, formats): JSON bodies are parsed (and must end with a newline, as provd
//     promises), text bodies are validated as strings, text/event-stream bodies are split into
//     events and each event's data is validated against the response's x-provd-sse-data schema;
//     Prometheus text must have exactly the `# TYPE` families of x-provd-metric-families;
//   - for a 2xx/3xx answer the request was valid per the spec (path, query and header
//     parameters, request body): provd must not accept what the spec calls invalid, and the
//     test must not rely on undocumented parameters; an exchange with "expect_invalid": true
//     (a test that deliberately sent a bad request) must be invalid per the spec too.
// Every schema of the spec is compiled (strict) at start, so a broken schema fails even if no
// exchange reaches it.
import fs from "node:fs";
import path from "node:path";
import YAML from "yaml";
import Ajv2020 from "ajv/dist/2020.js";
import addFormats from "ajv-formats";

const METHODS = ["get", "head", "post", "put", "delete", "patch", "options", "trace"];
const SCHEMA_BASE = "urn:provd:openapi:schemas";

function die(msg) {
  console.error(`validate.mjs: ${msg}`);
  process.exit(2);
}

// --- loading ---------------------------------------------------------------------------------

function pointer(doc, ref) {
  if (!ref.startsWith("#/")) die(`unsupported $ref ${ref} (only local references)`);
  let v = doc;
  for (const raw of ref.slice(2).split("/")) {
    const k = raw.replace(/~1/g, "/").replace(/~0/g, "~");
    if (v === undefined || !(k in v)) die(`dangling $ref ${ref}`);
    v = v[k];
  }
  return v;
}

// Follows non-schema $refs (responses, parameters, headers).
function deref(doc, obj) {
  let seen = 0;
  while (obj && typeof obj === "object" && typeof obj.$ref === "string") {
    if (++seen > 20) die(`$ref loop at ${obj.$ref}`);
    obj = pointer(doc, obj.$ref);
  }
  return obj;
}

// Deep copy with "#/components/schemas/X" references rewritten to the registered schema set.
function rewriteRefs(v) {
  if (Array.isArray(v)) return v.map(rewriteRefs);
  if (v && typeof v === "object") {
    const o = {};
    for (const [k, x] of Object.entries(v)) {
      if (k === "$ref" && typeof x === "string") {
        if (!x.startsWith("#/components/schemas/")) die(`schema $ref outside components/schemas: ${x}`);
        o[k] = `${SCHEMA_BASE}#/$defs/${x.slice("#/components/schemas/".length)}`;
      } else o[k] = rewriteRefs(x);
    }
    return o;
  }
  return v;
}

class Spec {
  constructor(file) {
    this.doc = YAML.parse(fs.readFileSync(file, "utf8"));
    if (!/^3\.1\./.test(this.doc.openapi || "")) die(`${file}: not OpenAPI 3.1`);
    this.ajv = new Ajv2020({ strict: true, allErrors: true, allowUnionTypes: true });
    addFormats(this.ajv);
    this.ajv.addSchema({ $id: SCHEMA_BASE, $defs: rewriteRefs(this.doc.components?.schemas || {}) });
    this.validators = new Map();
    this.paths = Object.entries(this.doc.paths || {}).map(([tpl, item]) => this.compilePath(tpl, item));
    // Literal paths before templated ones, fewer parameters first.
    this.paths.sort((a, b) => a.nparams - b.nparams || b.template.length - a.template.length);
    this.compileAll();
  }

  validator(schema, where) {
    const key = JSON.stringify(schema);
    let v = this.validators.get(key);
    if (!v) {
      try {
        v = this.ajv.compile(rewriteRefs(schema));
      } catch (e) {
        die(`schema at ${where} does not compile: ${e.message}`);
      }
      this.validators.set(key, v);
    }
    return v;
  }

  params(item, op) {
    const byKey = new Map();
    for (const p of [...(item.parameters || []), ...(op?.parameters || [])]) {
      const r = deref(this.doc, p);
      byKey.set(`${r.in}:${r.in === "header" ? r.name.toLowerCase() : r.name}`, r);
    }
    return [...byKey.values()];
  }

  compilePath(template, item) {
    const names = [];
    let rx = "^";
    for (const part of template.split(/(\{[^}]+\})/)) {
      const m = part.match(/^\{(.+)\}$/);
      if (!m) {
        rx += part.replace(/[.*+?^$()|[\]\\]/g, "\\$&");
        continue;
      }
      names.push(m[1]);
      const decl = this.params(item, null).find((p) => p.in === "path" && p.name === m[1]) ||
        METHODS.flatMap((mm) => (item[mm] ? this.params(item, item[mm]) : []))
          .find((p) => p.in === "path" && p.name === m[1]);
      if (!decl) die(`path ${template}: parameter {${m[1]}} is not declared`);
      rx += decl["x-provd-multi-segment"] ? "(.+)" : "([^/]+)";
    }
    const methods = METHODS.filter((m) => item[m]).map((m) => m.toUpperCase());
    return { template, item, regex: new RegExp(rx + "$"), names, nparams: names.length, methods };
  }

  compileAll() {
    for (const [name, s] of Object.entries(this.doc.components?.schemas || {}))
      this.validator({ $ref: `#/components/schemas/${name}` }, `components/schemas/${name}`);
    const compileResponse = (resp, where) => {
      const r = deref(this.doc, resp);
      for (const [h, hd] of Object.entries(r.headers || {})) {
        const d = deref(this.doc, hd);
        if (d.schema) this.validator(d.schema, `${where} header ${h}`);
      }
      for (const [ct, media] of Object.entries(r.content || {})) {
        if (media.schema) this.validator(media.schema, `${where} ${ct}`);
        if (media["x-provd-sse-data"]) this.validator(media["x-provd-sse-data"], `${where} ${ct} sse data`);
        for (const [ev, sch] of Object.entries(media["x-provd-sse-events"] || {})) this.validator(sch, `${where} ${ct} sse event ${ev}`);
      }
    };
    for (const p of this.paths)
      for (const m of p.methods) {
        const op = p.item[m.toLowerCase()];
        for (const prm of this.params(p.item, op)) this.validator(prm.schema || {}, `${m} ${p.template} param ${prm.name}`);
        const rb = deref(this.doc, op.requestBody);
        for (const [ct, media] of Object.entries(rb?.content || {}))
          if (media.schema) this.validator(media.schema, `${m} ${p.template} request ${ct}`);
        for (const [st, resp] of Object.entries(op.responses || {})) compileResponse(resp, `${m} ${p.template} ${st}`);
      }
    const mna = this.doc["x-provd-method-not-allowed"];
    if (!mna) die("the spec has no x-provd-method-not-allowed response");
    compileResponse(mna, "x-provd-method-not-allowed");
    if (!this.doc.components?.responses?.NotFound) die("the spec has no components/responses/NotFound");
  }

  match(pathname) {
    for (const p of this.paths) {
      if (pathname === p.template) return { p, values: null }; // a template given as is
      const m = pathname.match(p.regex);
      if (m) return { p, values: Object.fromEntries(p.names.map((n, i) => [n, decodeURIComponent(m[i + 1])])) };
    }
    return null;
  }

  operations() {
    const out = [];
    for (const p of [...this.paths].sort((a, b) => (a.template < b.template ? -1 : a.template > b.template ? 1 : 0)))
      for (const m of p.methods) out.push({ method: m, template: p.template, op: p.item[m.toLowerCase()], p });
    return out;
  }

  auth(op) {
    const sec = op.security ?? this.doc.security ?? [];
    const kinds = sec.map((req) => Object.keys(req).sort().join("+") || "none");
    if (kinds.length === 0) return "open";
    if (kinds.length === 2 && kinds.includes("none") && kinds.includes("apiToken")) return "read";
    if (kinds.length === 1 && kinds[0] === "apiToken") return "admin";
    if (kinds.length === 1 && kinds[0] === "installToken") return "install";
    if (kinds.length === 1 && kinds[0] === "nodeCredential") return "node";
    die(`unsupported security ${JSON.stringify(sec)} on ${op.operationId}`);
  }
}

// --- exchanges -------------------------------------------------------------------------------

function parseHeaders(text) {
  // curl -D writes every response (100 Continue, redirects); the last one counts.
  const blocks = text.split(/\r?\n(?=HTTP\/)/);
  const lines = blocks[blocks.length - 1].split(/\r?\n/);
  const headers = new Map();
  for (const l of lines.slice(1)) {
    const i = l.indexOf(":");
    if (i <= 0) continue;
    const k = l.slice(0, i).trim().toLowerCase();
    const v = l.slice(i + 1).trim();
    headers.set(k, headers.has(k) ? `${headers.get(k)}, ${v}` : v);
  }
  return { statusLine: lines[0] || "", headers };
}

const normType = (t) => t.split(";").map((s) => s.trim().toLowerCase()).filter(Boolean).join("; ");

function ajvErrors(v) {
  return (v.errors || []).map((e) => `${e.instancePath || "/"} ${e.message}${e.params && Object.keys(e.params).length ? " " + JSON.stringify(e.params) : ""}`).join("; ");
}

// Query-string and header values are strings: digits become numbers where the schema has
// integers; arrays (style form, explode false) are comma-separated.
function paramValue(schema, raw, prm) {
  const num = (x, s) => (/^-?[0-9]+$/.test(x) && /"(integer|number)"/.test(JSON.stringify(s ?? {})) ? Number(x) : x);
  if (prm.schema?.type === "array") return raw.split(",").map((x) => num(x, prm.schema.items));
  return num(raw, schema);
}

// Returns a list of reasons the request is invalid per the spec (empty: valid).
function requestProblems(spec, match, op, url, reqHeaders, requestBody) {
  const problems = [];
  const prms = spec.params(match.p.item, op);
  for (const prm of prms.filter((x) => x.in === "path")) {
    const raw = match.values?.[prm.name];
    if (raw === undefined) continue; // a template given as is
    const v = spec.validator(prm.schema || {}, `param ${prm.name}`);
    if (!v(paramValue(prm.schema, raw, prm))) problems.push(`path parameter ${prm.name}=${JSON.stringify(raw)}: ${ajvErrors(v)}`);
  }
  const seen = new Set();
  for (const [k, raw] of url.searchParams) {
    const prm = prms.find((x) => x.in === "query" && x.name === k);
    if (!prm) {
      problems.push(`query parameter ${k} is not in the spec`);
      continue;
    }
    if (seen.has(k)) problems.push(`query parameter ${k} given twice`);
    seen.add(k);
    const v = spec.validator(prm.schema || {}, `param ${k}`);
    if (!v(paramValue(prm.schema, raw, prm))) problems.push(`query parameter ${k}=${JSON.stringify(raw)}: ${ajvErrors(v)}`);
  }
  for (const prm of prms.filter((x) => x.in === "header")) {
    const raw = reqHeaders.get(prm.name.toLowerCase());
    if (raw === undefined) continue;
    const v = spec.validator(prm.schema || {}, `header ${prm.name}`);
    if (!v(paramValue(prm.schema, raw, prm))) problems.push(`header ${prm.name}=${JSON.stringify(raw)}: ${ajvErrors(v)}`);
  }
  for (const prm of prms.filter((x) => x.required && x.in !== "path"))
    if (prm.in === "query" ? !url.searchParams.has(prm.name) : !reqHeaders.has(prm.name.toLowerCase()))
      problems.push(`required ${prm.in} parameter ${prm.name} missing`);
  const rb = deref(spec.doc, op.requestBody);
  if (rb) {
    if (requestBody === null || requestBody === undefined || requestBody.length === 0) {
      if (rb.required) problems.push("required request body missing");
    } else {
      const media = rb.content?.["application/json"];
      let json;
      try {
        json = JSON.parse(requestBody.toString("utf8"));
      } catch {
        problems.push("request body is not JSON");
      }
      if (json !== undefined && media?.schema) {
        const v = spec.validator(media.schema, "request body");
        if (!v(json)) problems.push(`request body: ${ajvErrors(v)}`);
      }
    }
  } else if (requestBody && requestBody.length > 0) problems.push("the operation takes no request body");
  return problems;
}

// x-provd-sse-data: every event is "transition", its data that schema, its id the data's id.
// x-provd-sse-events: {EVENT: schema}: each event one of them, its data that event's schema,
// ids (where given) increasing integers.
function validateSse(spec, media, text, errs) {
  const byEvent = media["x-provd-sse-events"];
  const dataV = byEvent ? null : spec.validator(media["x-provd-sse-data"], "sse data");
  const blocks = text.split(/\r?\n\r?\n/);
  blocks.pop(); // the unterminated rest (a stream cut by the client's timeout), or ""
  let events = 0;
  let lastId = null;
  for (const block of blocks) {
    const fields = { data: [] };
    let comment = false;
    for (const line of block.split(/\r?\n/)) {
      if (line.startsWith(":")) {
        comment = true;
        continue;
      }
      const i = line.indexOf(":");
      const name = i < 0 ? line : line.slice(0, i);
      const value = i < 0 ? "" : line.slice(i + 1).replace(/^ /, "");
      if (name === "data") fields.data.push(value);
      else if (["id", "event", "retry"].includes(name)) fields[name] = value;
      else errs.push(`SSE: unknown field ${JSON.stringify(name)} in ${JSON.stringify(block)}`);
    }
    if (fields.data.length === 0 && fields.id === undefined && fields.event === undefined) {
      if (!comment) errs.push(`SSE: empty block`);
      continue;
    }
    events++;
    if (byEvent) {
      if (fields.data.length !== 1) errs.push(`SSE: ${fields.data.length} data lines in one event, expected 1`);
      const sch = byEvent[fields.event];
      if (!sch) {
        errs.push(`SSE: event ${JSON.stringify(fields.event)}, expected one of ${Object.keys(byEvent).join(", ")}`);
        continue;
      }
      let data;
      try {
        data = JSON.parse(fields.data.join("\n"));
      } catch {
        errs.push(`SSE: data is not JSON: ${fields.data.join("\\n").slice(0, 200)}`);
        continue;
      }
      const v = spec.validator(sch, `sse event ${fields.event}`);
      if (!v(data)) errs.push(`SSE: ${fields.event} data ${JSON.stringify(data).slice(0, 200)}: ${ajvErrors(v)}`);
      if (fields.id !== undefined) {
        const id = Number(fields.id);
        if (!/^[0-9]+$/.test(fields.id)) errs.push(`SSE: id ${JSON.stringify(fields.id)} is not an integer`);
        else if (lastId !== null && !(id > lastId)) errs.push(`SSE: event ids not increasing (${lastId} then ${id})`);
        else lastId = id;
      }
      continue;
    }
    if (fields.event !== "transition") errs.push(`SSE: event ${JSON.stringify(fields.event)}, expected "transition"`);
    if (fields.data.length !== 1) errs.push(`SSE: ${fields.data.length} data lines in one event, expected 1`);
    let data;
    try {
      data = JSON.parse(fields.data.join("\n"));
    } catch {
      errs.push(`SSE: data is not JSON: ${fields.data.join("\\n").slice(0, 200)}`);
      continue;
    }
    if (!dataV(data)) errs.push(`SSE: data ${JSON.stringify(data).slice(0, 200)}: ${ajvErrors(dataV)}`);
    if (String(data.id) !== fields.id) errs.push(`SSE: id: ${fields.id} but data.id ${data.id}`);
    if (lastId !== null && !(data.id > lastId)) errs.push(`SSE: event ids not increasing (${lastId} then ${data.id})`);
    lastId = data.id;
  }
  return events;
}

// Validates one exchange; returns { key, errors } where key identifies what was covered.
function validateExchange(spec, ex) {
  const errs = [];
  const method = ex.method.toUpperCase();
  const status = String(ex.status);
  const { headers } = parseHeaders(ex.headersText);
  const body = ex.body;
  const url = new URL(ex.path, "http://provd.invalid");
  const reqHeaders = new Map(Object.entries(ex.request_headers || {}).map(([k, v]) => [k.toLowerCase(), v]));
  const match = spec.match(url.pathname);
  let response, key, op = null;

  if (!match) {
    key = "unknown-path 404";
    if (status !== "404") errs.push(`${url.pathname} matches no path of the spec, so it must be 404, got ${status}`);
    response = spec.doc.components.responses.NotFound;
  } else if (!match.p.methods.includes(method)) {
    key = `405 ${match.p.template}`;
    if (status !== "405") errs.push(`${method} is not a method of ${match.p.template} in the spec, so it must be 405, got ${status}`);
    response = spec.doc["x-provd-method-not-allowed"];
    const allow = (headers.get("allow") || "").split(",").map((s) => s.trim()).filter(Boolean).sort();
    const want = [...match.p.methods].sort();
    if (headers.has("allow") && allow.join(",") !== want.join(","))
      errs.push(`Allow: ${headers.get("allow")}, but the spec's methods of ${match.p.template} are ${want.join(", ")}`);
  } else {
    op = match.p.item[method.toLowerCase()];
    const responses = op.responses || {};
    const rangeKey = `${status[0]}XX`;
    const rkey = status in responses ? status : rangeKey in responses ? rangeKey : "default" in responses ? "default" : null;
    key = `${method} ${match.p.template} ${rkey || status}`;
    if (!rkey) errs.push(`status ${status} is not documented for ${method} ${match.p.template} (documented: ${Object.keys(responses).join(", ")})`);
    else response = responses[rkey];
    const problems = requestProblems(spec, match, op, url, reqHeaders, ex.requestBody);
    if (/^[23]/.test(status) && problems.length)
      errs.push(`provd answered ${status} to a request the spec calls invalid: ${problems.join("; ")}`);
    if (ex.expect_invalid && problems.length === 0)
      errs.push(`the test sent a request it calls invalid, but the spec accepts it (the spec's parameter/body schemas are too loose)`);
  }

  if (response) {
    const r = deref(spec.doc, response);
    for (const [h, hd] of Object.entries(r.headers || {})) {
      const d = deref(spec.doc, hd);
      const val = headers.get(h.toLowerCase());
      if (val === undefined) {
        if (d.required) errs.push(`required header ${h} missing`);
        continue;
      }
      if (d.schema) {
        const v = spec.validator(d.schema, `header ${h}`);
        if (!v(val)) errs.push(`header ${h}: ${JSON.stringify(val)}: ${ajvErrors(v)}`);
      }
    }
    const content = r.content || {};
    const noBody = method === "HEAD" || status === "304" || status === "204" || Object.keys(content).length === 0;
    if (noBody && body.length > 0) errs.push(`expected no body, got ${body.length} bytes`);
    if (Object.keys(content).length > 0) {
      const ct = headers.get("content-type");
      const mediaKey = ct === undefined ? undefined : Object.keys(content).find((k) => normType(k) === normType(ct));
      if (ct === undefined) errs.push(`no Content-Type (expected ${Object.keys(content).join(" or ")})`);
      else if (!mediaKey) errs.push(`Content-Type ${JSON.stringify(ct)} is not documented (expected ${Object.keys(content).join(" or ")})`);
      else if (!noBody) {
        const media = content[mediaKey];
        const base = normType(mediaKey).split(";")[0];
        const text = body.toString("utf8");
        if (base === "application/json") {
          if (!text.endsWith("\n")) errs.push("JSON body does not end with a newline");
          let json;
          try {
            json = JSON.parse(text);
          } catch (e) {
            errs.push(`body is not JSON: ${e.message}: ${text.slice(0, 200)}`);
          }
          if (json !== undefined && media.schema) {
            const v = spec.validator(media.schema, key);
            if (!v(json)) errs.push(`body ${text.slice(0, 300).trim()}: ${ajvErrors(v)}`);
          }
        } else if (base === "application/octet-stream") {
          const cl = headers.get("content-length");
          if (cl !== undefined && Number(cl) !== body.length) errs.push(`Content-Length ${cl} but ${body.length} body bytes`);
        } else {
          if (media.schema) {
            const v = spec.validator(media.schema, key);
            if (!v(text)) errs.push(`body ${JSON.stringify(text.slice(0, 200))}: ${ajvErrors(v)}`);
          }
          if (media["x-provd-metric-families"]) {
            const want = media["x-provd-metric-families"];
            const got = Object.fromEntries([...text.matchAll(/^# TYPE ([a-zA-Z_:][a-zA-Z0-9_:]*) (\S+)$/gm)].map((m) => [m[1], m[2]]));
            for (const [name, type] of Object.entries(want))
              if (got[name] !== type) errs.push(`metric family ${name} (${type}) ${name in got ? `is a ${got[name]}` : "is missing"}`);
            for (const name of Object.keys(got)) if (!(name in want)) errs.push(`metric family ${name} is not in the spec`);
          }
          if (media["x-provd-sse-data"] || media["x-provd-sse-events"]) {
            const n = validateSse(spec, media, text, errs);
            if (ex.min_events !== undefined && n < ex.min_events) errs.push(`SSE: ${n} events, expected at least ${ex.min_events}`);
          }
        }
      }
    }
  }
  return { key, errors: errs };
}

// --- commands --------------------------------------------------------------------------------

function readExchangeRecord(dir, file) {
  const rec = JSON.parse(fs.readFileSync(path.join(dir, file), "utf8"));
  rec.headersText = fs.readFileSync(path.join(dir, rec.headers), "utf8");
  rec.body = fs.readFileSync(path.join(dir, rec.body));
  rec.requestBody = rec.request_body ? fs.readFileSync(path.join(dir, rec.request_body)) : null;
  rec.label = rec.label || file;
  return rec;
}

function coverage(spec, keys, exempt) {
  const missing = [];
  for (const { method, template, op } of spec.operations())
    for (const st of Object.keys(op.responses || {})) {
      if (st === "5XX") continue; // provd's own failures: not provokable from outside
      const k = `${method} ${template} ${st}`;
      if (exempt.has(k)) {
        if (keys.has(k)) missing.push(`${k} is exempted from coverage but was exercised: drop the exemption`);
        exempt.delete(k);
        continue;
      }
      if (!keys.has(k)) missing.push(k);
    }
  for (const p of spec.paths) if (!keys.has(`405 ${p.template}`)) missing.push(`a 405 on ${p.template}`);
  if (!keys.has("unknown-path 404")) missing.push("a 404 on a path not in the spec");
  for (const k of exempt) missing.push(`exemption ${k} names no documented status of the spec`);
  return missing;
}

const [cmd, specFile, ...args] = process.argv.slice(2);
if (!cmd || !specFile) die("usage: validate.mjs routes|ops|check|batch SPEC ...");
const spec = new Spec(specFile);

if (cmd === "routes") {
  for (const { method, template } of spec.operations()) console.log(`${method} ${template}`);
} else if (cmd === "ops") {
  for (const { method, template, op } of spec.operations()) console.log(`${method} ${template} ${spec.auth(op)}`);
} else if (cmd === "check") {
  const [method, p, status, hfile, bfile, rbfile] = args;
  if (!bfile) die("usage: validate.mjs check SPEC METHOD PATH STATUS HEADERS_FILE BODY_FILE [REQUEST_BODY_FILE]");
  const { key, errors } = validateExchange(spec, {
    method, path: p, status, headersText: fs.readFileSync(hfile, "utf8"), body: fs.readFileSync(bfile),
    requestBody: rbfile ? fs.readFileSync(rbfile) : null,
  });
  for (const e of errors) console.error(`FAIL ${method} ${p} ${status}: ${e}`);
  if (errors.length) process.exit(1);
  console.log(`ok ${key}`);
} else if (cmd === "batch") {
  const [dir, ...opts] = args;
  if (!dir) die("usage: validate.mjs batch SPEC DIR [--no-coverage] [--exempt 'METHOD PATH STATUS']...");
  let withCoverage = true;
  const exempt = new Set();
  for (let i = 0; i < opts.length; i++) {
    if (opts[i] === "--no-coverage") withCoverage = false;
    else if (opts[i] === "--exempt" && i + 1 < opts.length) exempt.add(opts[++i]);
    else die(`unknown option ${opts[i]}`);
  }
  const files = fs.readdirSync(dir).filter((f) => f.endsWith(".json")).sort((a, b) => parseInt(a) - parseInt(b) || (a < b ? -1 : 1));
  const keys = new Set();
  let failed = 0;
  for (const f of files) {
    const ex = readExchangeRecord(dir, f);
    const { key, errors } = validateExchange(spec, ex);
    keys.add(key);
    for (const e of errors) console.error(`FAIL [${ex.label}] ${ex.method} ${ex.path} -> ${ex.status}: ${e}`);
    if (errors.length) failed++;
  }
  const missing = withCoverage ? coverage(spec, keys, exempt) : [];
  for (const m of missing) console.error(`FAIL coverage: never exercised: ${m}`);
  console.log(`${files.length} exchanges, ${failed} invalid; ${keys.size} (operation, status) pairs covered, ${missing.length} missing`);
  if (failed || missing.length) process.exit(1);
} else if (cmd === "unmatched") {
  for (const line of fs.readFileSync(0, "utf8").split("\n"))
    if (line && !spec.match(new URL(line, "http://provd.invalid").pathname)) console.log(line);
} else die(`unknown command ${cmd}`);
