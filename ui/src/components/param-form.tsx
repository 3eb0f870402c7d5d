// A form generated from a flow's parameter schema (the `describe` list of parameters, or a JSON
// schema): one field per parameter with its default, required ones marked, values parsed as JSON
// when they look like it (numbers, booleans, lists), so `n = 100` arrives as the number 100.

import type { JsonSchema, ParameterSchema } from "../types.ts";

export interface ParamField {
  name: string;
  required: boolean;
  default?: unknown;
  description?: string;
  type?: string;
  enum?: unknown[];
}

/** The fields of a schema in either shape. */
export function fieldsOf(
  schema: ParameterSchema | undefined,
  defaults: Record<string, unknown> = {},
): ParamField[] {
  let fields: ParamField[] = [];
  if (Array.isArray(schema)) fields = schema.map((p) => ({ ...p }));
  else if (schema?.properties) {
    const req = new Set(schema.required ?? []);
    fields = Object.entries(schema.properties).map(([name, s]: [string, JsonSchema]) => ({
      name,
      required: req.has(name),
      default: s.default,
      description: s.description ?? s.title,
      type: Array.isArray(s.type) ? s.type[0] : s.type,
      enum: s.enum,
    }));
  }
  for (const f of fields) if (f.name in defaults) f.default = defaults[f.name];
  for (const name of Object.keys(defaults)) {
    if (!fields.some((f) => f.name === name)) fields.push({ name, required: false, default: defaults[name] });
  }
  return fields;
}

function show(v: unknown): string {
  if (v === undefined) return "";
  return typeof v === "string" ? v : JSON.stringify(v);
}

/** A field's text as the value to send: JSON when it parses (and the type is not a string). */
export function parseValue(text: string, type: string | undefined): unknown {
  if (type === "string") return text;
  try {
    return JSON.parse(text);
  } catch {
    return text;
  }
}

export function ParamForm({
  fields,
  values,
  onChange,
}: {
  fields: ParamField[];
  values: Record<string, string>;
  onChange: (values: Record<string, string>) => void;
}) {
  if (fields.length === 0) return <p className="muted">This flow takes no parameters.</p>;
  return (
    <fieldset className="params">
      <legend>Parameters</legend>
      {fields.map((f) => {
        const id = `param-${f.name}`;
        const value = values[f.name] ?? show(f.default);
        return (
          <div key={f.name} className="field">
            <label htmlFor={id}>
              {f.name}
              {f.required && <span className="req"> (required)</span>}
              {f.type && <span className="muted small"> {f.type}</span>}
            </label>
            {f.enum ? (
              <select
                id={id}
                value={value}
                onChange={(e) => onChange({ ...values, [f.name]: e.target.value })}
              >
                {f.enum.map((o) => (
                  <option key={show(o)} value={show(o)}>
                    {show(o)}
                  </option>
                ))}
              </select>
            ) : f.type === "boolean" || typeof f.default === "boolean" ? (
              <select
                id={id}
                value={value || "false"}
                onChange={(e) => onChange({ ...values, [f.name]: e.target.value })}
              >
                <option value="true">true</option>
                <option value="false">false</option>
              </select>
            ) : (
              <input
                id={id}
                name={f.name}
                required={f.required && f.default === undefined}
                inputMode={
                  f.type === "number" || f.type === "integer" || typeof f.default === "number"
                    ? "decimal"
                    : undefined
                }
                value={value}
                placeholder={f.default === undefined ? (f.required ? "required" : "optional") : undefined}
                onChange={(e) => onChange({ ...values, [f.name]: e.target.value })}
              />
            )}
            {f.description && <p className="muted small">{f.description}</p>}
          </div>
        );
      })}
    </fieldset>
  );
}

/** The parameters to send: fields left at their default are omitted, so the server applies them. */
export function collect(fields: ParamField[], values: Record<string, string>): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const f of fields) {
    const text = values[f.name];
    if (text === undefined || text === show(f.default)) continue;
    if (text === "" && !f.required) continue;
    out[f.name] = parseValue(text, f.type);
  }
  return out;
}
