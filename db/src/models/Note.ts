import {
  type CreationOptional,
  DataTypes,
  type ForeignKey,
  type InferAttributes,
  type InferCreationAttributes,
  Model,
  type Sequelize,
} from 'sequelize';
import { largeText } from './text';
import type { Patient } from './Patient';
import type { User } from './User';

/** A doctor's note on a patient. Append-only: a correction is a new note naming the one it corrects. */
export class Note extends Model<InferAttributes<Note>, InferCreationAttributes<Note>> {
  declare id: CreationOptional<number>;
  declare patientId: ForeignKey<Patient['id']>;
  declare authorUserId: ForeignKey<User['id']>;
  declare authorName: string;
  declare body: string;
  declare correctsNoteId: CreationOptional<number | null>;
  declare createdAt: CreationOptional<Date>;
}

/** Binds a fresh `Note` class to one Sequelize instance. */
export function initNote(sequelize: Sequelize): typeof Note {
  class NoteModel extends Note {}
  NoteModel.init(
    {
      id: { type: DataTypes.INTEGER, autoIncrement: true, primaryKey: true },
      patientId: { type: DataTypes.INTEGER, allowNull: false },
      authorUserId: { type: DataTypes.INTEGER, allowNull: false },
      authorName: { type: DataTypes.STRING(200), allowNull: false },
      body: { type: largeText(sequelize, 'medium'), allowNull: false },
      correctsNoteId: { type: DataTypes.INTEGER, allowNull: true },
      createdAt: DataTypes.DATE(3),
    },
    { sequelize, modelName: 'Note', tableName: 'notes', underscored: true, updatedAt: false },
  );
  return NoteModel;
}
