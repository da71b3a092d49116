import {
  type Attributes,
  type CreationAttributes,
  DataTypes,
  type FindOptions,
  type Model,
  type ModelAttributeColumnOptions,
  type ModelStatic,
  type Transaction,
} from 'sequelize';
import { insertRows } from './sql';

/**
 * Reading and writing rows as plain objects, for the hot paths (a page of patients, its audit
 * rows): Sequelize builds no model instance, runs no per-row hooks or validation, and the rows
 * are still the model's attributes, typed and converted as an instance would give them. Values
 * are always bound or escaped by Sequelize; nothing here writes SQL text.
 */

type Converter = (value: unknown) => unknown;

interface ModelPlan {
  /** Per attribute read: how a raw value becomes the instance's value (dates, booleans, JSON getters). */
  readers: [string, Converter][];
  /** Attribute name to column, and the column's attribute (for escaping by type). */
  fields: Map<string, string>;
  /** Attribute setters (JSON kept as text): applied to a plain row as an instance would. */
  setters: [string, NonNullable<ModelAttributeColumnOptions['set']>][];
  createdAt: string | null;
  updatedAt: string | null;
}

const plans = new WeakMap<ModelStatic<Model>, ModelPlan>();

function typeKey(attribute: ModelAttributeColumnOptions): string {
  const type = attribute.type as { key?: string } | string;
  return typeof type === 'string' ? type : (type.key ?? '');
}

/** A raw DATE value as a Date: SQLite answers text (`2026-11-30 05:16:30.109 +00:00`), MySQL a Date. */
export function toDate(value: unknown): unknown {
  if (typeof value !== 'string') return value;
  return new Date(/[+-]\d\d:?\d\d$|Z$/.test(value) ? value : `${value}Z`);
}

function planOf(model: ModelStatic<Model>): ModelPlan {
  const known = plans.get(model);
  if (known) return known;
  const attributes = model.getAttributes() as Record<
    string,
    ModelAttributeColumnOptions & { field?: string }
  >;
  const readers: [string, Converter][] = [];
  const setters: ModelPlan['setters'] = [];
  const fields = new Map<string, string>();
  for (const [name, attribute] of Object.entries(attributes)) {
    const field = attribute.field ?? name;
    fields.set(name, field);
    const key = typeKey(attribute);
    if (attribute.get) {
      const get = attribute.get;
      readers.push([name, (value) => get.call({ getDataValue: () => value } as never)]);
    } else if (key === DataTypes.DATE.key) readers.push([name, toDate]);
    else if (key === DataTypes.BOOLEAN.key) {
      readers.push([name, (value) => (typeof value === 'number' ? value !== 0 : value)]);
    }
    if (attribute.set) setters.push([name, attribute.set]);
  }
  const timestamps = (
    model as unknown as { _timestampAttributes: { createdAt?: string; updatedAt?: string } }
  )._timestampAttributes;
  const plan = {
    readers,
    fields,
    setters,
    createdAt: timestamps.createdAt ?? null,
    updatedAt: timestamps.updatedAt ?? null,
  };
  plans.set(model, plan);
  return plan;
}

/**
 * `model.findAll(options)` as plain rows: the model's attributes (the selected ones), with the
 * values an instance would hold. For reads that only map rows to views; not for includes.
 */
export async function findPlain<M extends Model>(
  model: ModelStatic<M>,
  options: FindOptions<Attributes<M>>,
): Promise<Attributes<M>[]> {
  const rows = (await model.findAll({ ...options, raw: true })) as unknown as Record<string, unknown>[];
  const { readers } = planOf(model as unknown as ModelStatic<Model>);
  for (const row of rows) {
    for (const [name, read] of readers) if (name in row) row[name] = read(row[name]);
  }
  return rows as Attributes<M>[];
}

/**
 * Inserts rows in one multi-row INSERT, as `bulkCreate` would store them (timestamps set, model
 * setters applied) but without building an instance per row, validating, running hooks or
 * Sequelize's query building: for rows the server composes itself or has validated already,
 * never for unchecked input. An attribute some rows lack is NULL in those rows. Returns the rows
 * as stored: the values given, the timestamps, and the id the database assigned.
 */
export async function insertPlain<M extends Model>(
  model: ModelStatic<M>,
  rows: readonly CreationAttributes<M>[],
  options: { transaction?: Transaction | null } = {},
): Promise<(CreationAttributes<M> & { id: number })[]> {
  if (rows.length === 0) return [];
  const plan = planOf(model as unknown as ModelStatic<Model>);
  const now = new Date();
  const stored = rows.map((row) => {
    const values: Record<string, unknown> = { ...(row as Record<string, unknown>) };
    if (plan.createdAt && values[plan.createdAt] === undefined) values[plan.createdAt] = now;
    if (plan.updatedAt && values[plan.updatedAt] === undefined) values[plan.updatedAt] = now;
    return values;
  });
  const names = [...new Set(stored.flatMap((values) => Object.keys(values)))];
  const fields = names.map((name) => {
    const field = plan.fields.get(name);
    if (!field) throw new Error(`${model.name} has no attribute ${name}`);
    return field;
  });
  const setters = new Map(plan.setters);
  const tuples = stored.map((values) =>
    names.map((name) => {
      let value: unknown = values[name] ?? null;
      const set = setters.get(name);
      if (set && value !== null) {
        set.call({ setDataValue: (_key: string, converted: unknown) => (value = converted) } as never, value);
      }
      return value;
    }),
  );
  const target = {
    sequelize: model.sequelize!,
    dialect: model.sequelize!.getDialect() as 'mysql' | 'sqlite',
  };
  const ids = await insertRows(target, model.getTableName() as string, fields, tuples, options.transaction);
  stored.forEach((values, i) => {
    values.id = ids[i];
  });
  return stored as (CreationAttributes<M> & { id: number })[];
}
