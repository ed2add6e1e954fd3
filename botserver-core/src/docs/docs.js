// A small browsable view of /api/openapi.json with "try it" forms. Everything from the
// document is inserted as text, never as HTML.
"use strict";
const el = (tag, attrs = {}, ...children) => {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) node.setAttribute(k, v);
  for (const c of children) node.append(c);
  return node;
};

function resolve(doc, schema) {
  if (schema && schema.$ref) {
    const name = schema.$ref.split("/").pop();
    return (doc.components && doc.components.schemas && doc.components.schemas[name]) || schema;
  }
  return schema;
}

function operationView(doc, path, method, op) {
  const params = (op.parameters || []).map((p) => {
    const input = el("input", { "data-in": p.in, "data-name": p.name, placeholder: p.required ? "required" : "" });
    return el("label", {}, `${p.name} (${p.in})`, input);
  });
  const hasBody = !!op.requestBody;
  const bodyInput = el("textarea", { rows: "6", placeholder: "JSON body" });
  const out = el("pre", {}, "");
  const run = el("button", { type: "button" }, "Try it");
  run.addEventListener("click", async () => {
    let url = path;
    const query = new URLSearchParams();
    for (const input of document.querySelectorAll(`[data-op="${method} ${path}"] input[data-name]`)) {
      if (!input.value) continue;
      if (input.dataset.in === "path") url = url.replace(`{${input.dataset.name}}`, encodeURIComponent(input.value));
      if (input.dataset.in === "query") query.append(input.dataset.name, input.value);
    }
    if ([...query].length) url += "?" + query;
    const headers = {};
    const token = document.getElementById("token").value;
    if (token) headers.Authorization = "Bearer " + token;
    const init = { method: method.toUpperCase(), headers };
    if (hasBody && bodyInput.value) { headers["Content-Type"] = "application/json"; init.body = bodyInput.value; }
    out.textContent = "…";
    try {
      const res = await fetch(url, init);
      const text = await res.text();
      let shown = text;
      try { shown = JSON.stringify(JSON.parse(text), null, 2); } catch (_) { /* not JSON */ }
      out.textContent = `${res.status} ${res.statusText}\n\n${shown}`;
    } catch (e) { out.textContent = String(e); }
  });
  const responses = Object.entries(op.responses || {}).map(([code, r]) => {
    const schema = r.content && Object.values(r.content)[0] && Object.values(r.content)[0].schema;
    const resolved = resolve(doc, schema);
    return el("div", {}, `${code}: ${r.description || ""}${resolved && resolved.properties ? " { " + Object.keys(resolved.properties).join(", ") + " }" : ""}`);
  });
  const body = el("div", { class: "body", "data-op": `${method} ${path}` },
    el("p", {}, op.description || op.summary || ""), ...params, ...(hasBody ? [bodyInput] : []), ...responses, run, out);
  return el("details", { "data-path": path },
    el("summary", {}, el("span", { class: `method ${method}` }, method), el("span", { class: "path" }, path),
      el("span", {}, op.summary || "")), body);
}

async function main() {
  const ops = document.getElementById("ops");
  const doc = await (await fetch("/api/openapi.json")).json();
  document.getElementById("title").textContent = `${doc.info.title} ${doc.info.version}`;
  document.getElementById("subtitle").textContent = doc.info.description || "";
  const byTag = new Map();
  for (const [path, item] of Object.entries(doc.paths || {})) {
    for (const [method, op] of Object.entries(item)) {
      if (!["get", "post", "put", "patch", "delete"].includes(method)) continue;
      const tag = (op.tags && op.tags[0]) || "other";
      if (!byTag.has(tag)) byTag.set(tag, []);
      byTag.get(tag).push(operationView(doc, path, method, op));
    }
  }
  ops.replaceChildren();
  for (const [tag, views] of [...byTag].sort()) ops.append(el("h2", {}, tag), ...views);
  document.getElementById("filter").addEventListener("input", (e) => {
    for (const d of ops.querySelectorAll("details")) d.hidden = !d.dataset.path.includes(e.target.value);
  });
}
main().catch((e) => { document.getElementById("ops").textContent = "Could not load the API document: " + e; });
