import { type DataType, DataTypes, type ModelAttributeColumnOptions } from 'sequelize';

/**
 * A JSON value kept in a TEXT column (`type`: a larger one such as `TEXT('medium')` for big
 * values). MariaDB's JSON type comes back from mysql2 as a string, so both dialects store text and
 * this column (de)serialises it the same way everywhere.
 */
export function jsonText(
  field: string,
  allowNull = false,
  type: DataType = DataTypes.TEXT,
): ModelAttributeColumnOptions {
  return {
    type,
    allowNull,
    get(this: { getDataValue(key: string): unknown }) {
      const raw = this.getDataValue(field);
      return typeof raw === 'string' ? JSON.parse(raw) : (raw ?? null);
    },
    set(this: { setDataValue(key: string, value: unknown): void }, value: unknown) {
      this.setDataValue(field, value === null || value === undefined ? null : JSON.stringify(value));
    },
  };
}
