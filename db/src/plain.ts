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
  setters: Map<string, NonNullable<ModelAttributeColumnOptions['set']>>;
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
  const setters: ModelPlan['setters'] = new Map();
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
    if (attribute.set) setters.set(name, attribute.set);
  }
  const { timestamps, createdAt, updatedAt } = model.options;
  const stamp = (option: string | boolean | undefined, name: string) =>
    timestamps === false || option === false ? null : typeof option === 'string' ? option : name;
  const plan = {
    readers,
    fields,
    setters,
    createdAt: stamp(createdAt, 'createdAt'),
    updatedAt: stamp(updatedAt, 'updatedAt'),
  };
  plans.set(model, plan);
  return plan;
}

/**
 * `model.findAll(options)` as plain rows: the model's attributes (the selected ones), with the
 * values an instance would hold (dates, booleans, JSON getters), without building an instance per
 * row. For repository reads that only map rows to views; not for includes. The query is built by
 * Sequelize as given; reads hot enough to skip that are written out in their repository
 * (`sql.ts`).
 */
export async function findPlain<M extends Model>(
  model: ModelStatic<M>,
  options: FindOptions<Attributes<M>>,
): Promise<Attributes<M>[]> {
  const plan = planOf(model as unknown as ModelStatic<Model>);
  const rows = (await model.findAll({ ...options, raw: true })) as unknown as Record<string, unknown>[];
  for (const row of rows) {
    for (const [name, read] of plan.readers) if (name in row) row[name] = read(row[name]);
  }
  return rows as Attributes<M>[];
}

/**
 * Inserts rows in one multi-row INSERT, as `bulkCreate` would store them (timestamps set, model
 * setters applied) but without building an instance per row, validating, running hooks or
 * Sequelize's query building: for rows the server composes itself or has validated already,
 * never for unchecked input. An attribute some rows lack is NULL in those rows (the timestamps,
 * when the model has them: `at`). Returns the ids the database assigned, in row order, and `at`.
 */
export async function insertPlain<M extends Model>(
  model: ModelStatic<M>,
  rows: readonly CreationAttributes<M>[],
  options: { transaction?: Transaction | null } = {},
): Promise<{ ids: number[]; at: Date }> {
  const at = new Date();
  if (rows.length === 0) return { ids: [], at };
  const plan = planOf(model as unknown as ModelStatic<Model>);
  const names = new Set<string>();
  for (const row of rows) for (const name in row) names.add(name);
  for (const stamp of [plan.createdAt, plan.updatedAt]) if (stamp) names.add(stamp);
  const columns = [...names];
  const fields = columns.map((name) => {
    const field = plan.fields.get(name);
    if (!field) throw new Error(`${model.name} has no attribute ${name}`);
    return field;
  });
  const stamps = new Set([plan.createdAt, plan.updatedAt]);
  const tuples = rows.map((row) =>
    columns.map((name) => {
      let value: unknown = (row as Record<string, unknown>)[name] ?? (stamps.has(name) ? at : null);
      const set = plan.setters.get(name);
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
  return { ids, at };
}
