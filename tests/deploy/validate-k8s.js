// Validates Kubernetes manifests offline against the Kubernetes API schemas
// that the npm package kubernetes-models bundles: its validators check
// types, required fields and formats; they let unknown fields through, so
// a field the API does not have (a misspelt `readinesProbe`) is found here
// from the package's type declarations (one interface per schema object).
//
//   node validate-k8s.js DIR_OR_FILE...
//
// Every document of every .yaml/.yml file must parse (YAML 1.2, no
// duplicate keys), name an apiVersion and kind that kubernetes-models
// knows, and validate. Prints one line per document; exits 1 on any error.
'use strict';

const fs = require('fs');
const path = require('path');
const YAML = require('yaml');

function manifestFiles(arg) {
  const st = fs.statSync(arg);
  if (!st.isDirectory()) return [arg];
  return fs.readdirSync(arg)
    .filter((f) => /\.ya?ml$/.test(f))
    .sort()
    .map((f) => path.join(arg, f));
}

function modelFor(apiVersion, kind) {
  // "v1" is the core group; "apps/v1", "policy/v1", "autoscaling/v2"...
  const mod = `kubernetes-models/${apiVersion}/${kind}`;
  try {
    return require(mod)[kind];
  } catch (e) {
    if (e.code === 'MODULE_NOT_FOUND' || e.code === 'ERR_PACKAGE_PATH_NOT_EXPORTED') return undefined;
    throw e;
  }
}

// Every interface of the package's .d.ts files: name -> { field: type }.
// Names are registered both as declared (IDeploymentSpec) and as exported
// (IIoK8sApiAppsV1DeploymentSpec), which is how other files refer to them.
const shapes = new Map();

function readShapes(dir) {
  for (const ent of fs.readdirSync(dir, { withFileTypes: true })) {
    const p = path.join(dir, ent.name);
    if (ent.isDirectory()) readShapes(p);
    else if (ent.name.endsWith('.d.ts')) readShapeFile(p);
  }
}

function readShapeFile(file) {
  const lines = fs.readFileSync(file, 'utf8').split('\n');
  const local = new Map();
  let cur = null;
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i];
    let m = /^export interface (\w+)\b.*\{$/.exec(line);
    if (m) {
      cur = {};
      local.set(m[1], cur);
      continue;
    }
    if (cur && line === '}') {
      cur = null;
      continue;
    }
    m = cur && /^    "([^"]+)"\??: (.*)$/.exec(line);
    if (!m) continue;
    let type = m[2];
    if (type === '{') {
      // A map: { [key: string]: V; } over several lines.
      type = 'map';
      for (i++; i < lines.length && lines[i] !== '    };'; i++) {
        const v = /\[key: string\]: (.*);$/.exec(lines[i]);
        if (v) type = `map<${v[1]}>`;
      }
    } else {
      type = type.replace(/;$/, '');
    }
    cur[m[1]] = type;
  }
  for (const [name, shape] of local) shapes.set(name, shape);
  const ex = /^export \{ (.*) \};$/m.exec(lines.join('\n'));
  if (ex) {
    for (const part of ex[1].split(',')) {
      const a = /(\w+) as (\w+)/.exec(part.trim());
      if (a && local.has(a[1])) shapes.set(a[2], local.get(a[1]));
    }
  }
}

// Unknown fields of obj against the interface named type, with their paths.
function unknownFields(obj, type, where, out) {
  let m = /^Array<(.*)>$/.exec(type);
  if (m) {
    if (Array.isArray(obj)) obj.forEach((v, i) => unknownFields(v, m[1], `${where}/${i}`, out));
    return out;
  }
  m = /^map<(.*)>$/.exec(type);
  if (m) {
    if (obj && typeof obj === 'object') {
      for (const [k, v] of Object.entries(obj)) unknownFields(v, m[1], `${where}/${k}`, out);
    }
    return out;
  }
  const shape = shapes.get(type);
  if (!shape || !obj || typeof obj !== 'object' || Array.isArray(obj)) return out;
  for (const [k, v] of Object.entries(obj)) {
    if (!(k in shape)) out.push(`${where}/${k}`);
    else unknownFields(v, shape[k], `${where}/${k}`, out);
  }
  return out;
}

const modelsDir = path.dirname(require.resolve('kubernetes-models/package.json'));
readShapes(modelsDir);
readShapes(path.dirname(require.resolve('@kubernetes-models/apimachinery/package.json')));

let errors = 0;
let count = 0;
const args = process.argv.slice(2);
if (args.length === 0) {
  console.error('usage: node validate-k8s.js DIR_OR_FILE...');
  process.exit(2);
}
for (const file of args.flatMap(manifestFiles)) {
  const docs = YAML.parseAllDocuments(fs.readFileSync(file, 'utf8'), { uniqueKeys: true });
  docs.forEach((doc, i) => {
    const where = `${file}#${i + 1}`;
    if (doc.errors.length > 0) {
      errors++;
      console.log(`FAIL ${where}: ${doc.errors.map((e) => e.message).join('; ')}`);
      return;
    }
    const obj = doc.toJS();
    if (obj === null || obj === undefined) return; // an empty document (a trailing ---)
    count++;
    const { apiVersion, kind } = obj;
    const Model = apiVersion && kind ? modelFor(apiVersion, kind) : undefined;
    if (!Model) {
      errors++;
      console.log(`FAIL ${where}: unknown apiVersion/kind ${apiVersion}/${kind}`);
      return;
    }
    // The kind's own interface, by its exported (unique) name.
    const decl = fs.readFileSync(path.join(modelsDir, apiVersion, `${kind}.d.ts`), 'utf8');
    const alias = new RegExp(`\\bI${kind} as (\\w+)`).exec(decl);
    const top = alias ? alias[1] : undefined;
    const unknown = top ? unknownFields(obj, top, '', []) : [];
    if (!top || !shapes.has(top)) {
      errors++;
      console.log(`FAIL ${where}: no type declaration for ${kind}`);
      return;
    }
    if (unknown.length > 0) {
      errors++;
      console.log(`FAIL ${where}: ${apiVersion} ${kind}: unknown fields ${unknown.join(', ')}`);
      return;
    }
    try {
      new Model(obj).validate();
      console.log(`ok   ${where}: ${apiVersion} ${kind} ${obj.metadata && obj.metadata.name}`);
    } catch (e) {
      errors++;
      console.log(`FAIL ${where}: ${apiVersion} ${kind}: ${e.message}`);
    }
  });
}
if (count === 0) {
  console.log('FAIL: no manifest found');
  errors++;
}
console.log(`${count} documents, ${errors} errors`);
process.exit(errors > 0 ? 1 : 0);
