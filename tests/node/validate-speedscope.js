// Validates speedscope files against the JSON schema that the speedscope package ships.
// Usage: node validate-speedscope.js FILE...   Exit status 0 when every file is valid,
// 1 when one is not (the errors are printed), 2 when the check itself cannot run.
"use strict";

const fs = require("fs");
const path = require("path");
const Ajv = require("ajv");

const schemaPath = path.join(__dirname, "node_modules", "speedscope", "dist", "release", "file-format-schema.json");
let schema;
try {
  schema = JSON.parse(fs.readFileSync(schemaPath, "utf8"));
} catch (e) {
  console.error(`cannot load the speedscope schema from ${schemaPath}: ${e.message}`);
  process.exit(2);
}

const ajv = new Ajv({ allErrors: true, strict: false });
const validate = ajv.compile(schema);
let failed = false;
for (const file of process.argv.slice(2)) {
  const data = JSON.parse(fs.readFileSync(file, "utf8"));
  if (validate(data)) {
    console.log(`valid: ${file}`);
  } else {
    failed = true;
    console.log(`INVALID: ${file}`);
    for (const err of validate.errors) {
      console.log(`  ${err.instancePath || "/"} ${err.message} ${JSON.stringify(err.params)}`);
    }
  }
}
process.exit(failed ? 1 : 0);
