import type { QueryInterface } from 'sequelize';
import * as initial from './0001_initial';

/** One schema migration: applied in list order, never edited once it has landed. */
export interface Migration {
  name: string;
  up(params: { context: QueryInterface }): Promise<void>;
  down(params: { context: QueryInterface }): Promise<void>;
}

/** Every migration, oldest first. Add new ones at the end with the next number. */
export const migrations: Migration[] = [{ name: '0001_initial', ...initial }];
