import { DataTypes, type ModelAttributeColumnOptions } from 'sequelize';

/**
 * A JSON value kept in a TEXT column. MariaDB's JSON type comes back from mysql2 as a string, so
 * both dialects store text and this column (de)serialises it the same way everywhere.
 */
export function jsonText(field: string, allowNull = false): ModelAttributeColumnOptions {
  return {
    type: DataTypes.TEXT,
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
