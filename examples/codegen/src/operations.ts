// Operations a frontend would ship. `graphql()` comes from the generated ./gql
// module: each document below is validated against ../../schema/schema.graphql
// by `npm run codegen`, and returns a TypedDocumentNode with exact result and
// variables types.
import { graphql } from "./gql";

// What every sign-in returns, shared by register and login.
export const AuthPayloadFields = graphql(`
  fragment AuthPayloadFields on AuthPayload {
    accessToken
    tokenType
    expiresIn
    refreshToken
    refreshTokenExpiresAt
    user {
      id
      email
      roles
      createdAt
    }
  }
`);

export const RegisterMutation = graphql(`
  mutation Register($input: RegisterInput!) {
    register(input: $input) {
      ...AuthPayloadFields
    }
  }
`);

export const LoginMutation = graphql(`
  mutation Login($input: LoginInput!) {
    login(input: $input) {
      ...AuthPayloadFields
    }
  }
`);

export const RefreshTokenMutation = graphql(`
  mutation RefreshToken($token: String) {
    refreshToken(refreshToken: $token) {
      accessToken
      expiresIn
      refreshToken
    }
  }
`);

export const MeQuery = graphql(`
  query Me {
    me {
      id
      email
      roles
      createdAt
    }
  }
`);

export const SessionsQuery = graphql(`
  query Sessions {
    sessions {
      id
      current
      userAgent
      lastUsedAt
      expiresAt
    }
  }
`);

export const NotesQuery = graphql(`
  query Notes($first: Int, $after: String) {
    notes(first: $first, after: $after) {
      totalCount
      pageInfo {
        hasNextPage
        endCursor
      }
      edges {
        cursor
        node {
          id
          title
          owner {
            email
          }
        }
      }
    }
  }
`);
