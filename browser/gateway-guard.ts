/**
 * What 'repjs/gateway' resolves to in a browser bundle (the "browser" export condition): the
 * gateway is a Node server in front of etcd and cannot run in a page. Importing it fails at once
 * with an error saying so, instead of a bundle that breaks on node:http or etcd's gRPC later.
 * The named exports exist only so bundlers link the import and this error is what you see.
 */
import { ErrorCodes, RepJSError } from '../core/errors.js'

const message =
  "'repjs/gateway' was imported in a browser bundle, but the RepJS gateway is a Node server (it speaks to etcd). " +
  "Run it with `npx repjs gateway --etcd URL` (or startGateway() in Node), and in the page import { connect } from 'repjs/browser' " +
  "and pass gateway: 'ws://host:port'."

function wrongEnvironment(): never {
  throw new RepJSError(ErrorCodes.SETUP, message, { details: { module: 'repjs/gateway', environment: 'browser' } })
}

wrongEnvironment()

export const startGateway = wrongEnvironment
export const createToken = wrongEnvironment
export const verifyToken = wrongEnvironment
export const TokenError = wrongEnvironment
export const protocol = {}
