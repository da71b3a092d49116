import {
  type CreationOptional,
  DataTypes,
  type InferAttributes,
  type InferCreationAttributes,
  Model,
  type Sequelize,
} from 'sequelize';
import { jsonText } from './json';

/**
 * One committed change (see migration 0007): its type (`patient.updated`), the id of the record
 * it is about, the patient it concerns if any, and the names of the fields it changed.
 */
export class ChangeEvent extends Model<InferAttributes<ChangeEvent>, InferCreationAttributes<ChangeEvent>> {
  declare id: CreationOptional<number>;
  declare type: string;
  declare entityId: number;
  declare patientId: number | null;
  declare fields: CreationOptional<string[] | null>;
  declare createdAt: CreationOptional<Date>;
}

/** The single row of `change_event_log`: what the retention job has deleted, and the writers' lock. */
export class ChangeEventLog extends Model<
  InferAttributes<ChangeEventLog>,
  InferCreationAttributes<ChangeEventLog>
> {
  declare id: number;
  declare prunedThrough: number;
  /** The highest event id handed out (migration 0013). */
  declare lastEventId: CreationOptional<number>;
}

/** Binds fresh `ChangeEvent` and `ChangeEventLog` classes to one Sequelize instance. */
export function initChangeEvents(sequelize: Sequelize): {
  ChangeEvent: typeof ChangeEvent;
  ChangeEventLog: typeof ChangeEventLog;
} {
  class ChangeEventModel extends ChangeEvent {}
  ChangeEventModel.init(
    {
      id: { type: DataTypes.INTEGER, autoIncrement: true, primaryKey: true },
      type: { type: DataTypes.STRING(48), allowNull: false },
      entityId: { type: DataTypes.INTEGER, allowNull: false },
      patientId: { type: DataTypes.INTEGER, allowNull: true },
      fields: jsonText('fields', true, DataTypes.STRING(1000)),
      createdAt: DataTypes.DATE(3),
    },
    {
      sequelize,
      modelName: 'ChangeEvent',
      tableName: 'change_events',
      underscored: true,
      updatedAt: false,
    },
  );
  class ChangeEventLogModel extends ChangeEventLog {}
  ChangeEventLogModel.init(
    {
      id: { type: DataTypes.INTEGER, primaryKey: true },
      prunedThrough: { type: DataTypes.INTEGER, allowNull: false, defaultValue: 0 },
      lastEventId: { type: DataTypes.INTEGER, allowNull: false, defaultValue: 0 },
    },
    {
      sequelize,
      modelName: 'ChangeEventLog',
      tableName: 'change_event_log',
      underscored: true,
      timestamps: false,
    },
  );
  return { ChangeEvent: ChangeEventModel, ChangeEventLog: ChangeEventLogModel };
}
