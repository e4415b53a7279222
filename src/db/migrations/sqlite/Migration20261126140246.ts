import { Migration } from '@mikro-orm/migrations';

export class Migration20261126140246 extends Migration {

  override async up(): Promise<void> {
    this.addSql(`create table \`oauth_flows\` (\`id\` text not null, \`state_hash\` text not null, \`key_id\` text not null, \`provider\` text not null, \`redirect_uri\` text not null, \`user_id\` text null, \`created_at\` datetime not null, \`expires_at\` datetime not null, \`used_at\` datetime null, constraint \`oauth_flows_user_id_foreign\` foreign key(\`user_id\`) references \`users\`(\`id\`) on delete cascade on update cascade, primary key (\`id\`));`);
    this.addSql(`create unique index \`oauth_flows_state_hash_unique\` on \`oauth_flows\` (\`state_hash\`);`);
    this.addSql(`create index \`oauth_flows_user_id_index\` on \`oauth_flows\` (\`user_id\`);`);
    this.addSql(`create index \`oauth_flows_expires_at_index\` on \`oauth_flows\` (\`expires_at\`);`);

    this.addSql(`create table \`linked_accounts\` (\`id\` text not null, \`user_id\` text not null, \`provider\` text not null, \`subject\` text not null, \`email\` text null, \`email_verified\` integer not null, \`created_at\` datetime not null, \`last_used_at\` datetime null, constraint \`linked_accounts_user_id_foreign\` foreign key(\`user_id\`) references \`users\`(\`id\`) on delete cascade on update cascade, primary key (\`id\`));`);
    this.addSql(`create index \`linked_accounts_user_id_index\` on \`linked_accounts\` (\`user_id\`);`);
    this.addSql(`create unique index \`linked_accounts_provider_subject_unique\` on \`linked_accounts\` (\`provider\`, \`subject\`);`);

    this.addSql(`pragma foreign_keys = off;`);
    this.addSql(`create table \`users__temp_alter\` (\`id\` text not null, \`email\` text not null, \`password_hash\` text null, \`email_verified_at\` datetime null, \`roles\` json not null, \`created_at\` datetime not null, \`updated_at\` datetime not null, primary key (\`id\`));`);
    this.addSql(`insert into \`users__temp_alter\` select \`id\`, \`email\`, \`password_hash\`, \`email_verified_at\`, \`roles\`, \`created_at\`, \`updated_at\` from \`users\`;`);
    this.addSql(`drop table \`users\`;`);
    this.addSql(`alter table \`users__temp_alter\` rename to \`users\`;`);
    this.addSql(`create unique index \`users_email_unique\` on \`users\` (\`email\`);`);
    this.addSql(`pragma foreign_keys = on;`);
  }

}
