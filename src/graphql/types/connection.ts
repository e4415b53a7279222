import { type ClassType, Field, Int, ObjectType } from "type-graphql";
import type { Page } from "../../db/pagination";
import { PageInfo } from "./page-info";

/**
 * A Relay-style connection for `Node` (type-graphql's generic-types pattern):
 * `${name}Edge` and the fields of `${name}Connection`, so every list pages
 * the same way.
 */
export function Connection<TNode extends object>(name: string, Node: ClassType<TNode>) {
  @ObjectType(`${name}Edge`)
  class Edge {
    @Field(() => String)
    cursor!: string;

    @Field(() => Node)
    node!: TNode;
  }

  @ObjectType()
  abstract class ConnectionType {
    @Field(() => [Edge])
    edges!: Edge[];

    @Field(() => PageInfo)
    pageInfo!: PageInfo;

    @Field(() => Int)
    totalCount!: number;
  }
  return ConnectionType;
}

/** Maps a domain page onto the connection shape. */
export function toConnection<TRow, TNode>(page: Page<TRow>, map: (row: TRow) => TNode) {
  return {
    edges: page.items.map(({ cursor, node }) => ({ cursor, node: map(node) })),
    pageInfo: { hasNextPage: page.hasNextPage, endCursor: page.endCursor },
    totalCount: page.totalCount,
  };
}
