import { type DataType, DataTypes, type Sequelize } from 'sequelize';

/**
 * A TEXT column larger than MySQL's 64 KB `TEXT`: `MEDIUMTEXT` (16 MiB) or `LONGTEXT` (4 GiB) on
 * MySQL, plain `TEXT` on SQLite (which has no sizes, and warns on every sized TEXT it meets).
 */
export function largeText(sequelize: Pick<Sequelize, 'getDialect'>, size: 'medium' | 'long'): DataType {
  return sequelize.getDialect() === 'mysql' ? DataTypes.TEXT(size) : DataTypes.TEXT;
}
