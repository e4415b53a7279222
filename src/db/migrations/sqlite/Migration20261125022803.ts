import { Migration } from "@mikro-orm/migrations";

export class Migration20261125022803 extends Migration {
  override async up(): Promise<void> {
    this.addSql(
      `create table \`notes\` (\`id\` text not null, \`owner_id\` text not null, \`title\` text not null, \`body\` text not null, \`created_at\` datetime not null, \`updated_at\` datetime not null, constraint \`notes_owner_id_foreign\` foreign key(\`owner_id\`) references \`users\`(\`id\`) on delete cascade on update cascade, primary key (\`id\`));`,
    );
    this.addSql(`create index \`notes_owner_id_index\` on \`notes\` (\`owner_id\`);`);
    this.addSql(
      `create index \`notes_owner_id_created_at_id_index\` on \`notes\` (\`owner_id\`, \`created_at\`, \`id\`);`,
    );
  }
}
