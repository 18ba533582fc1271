/** The RepJS gateway (Node): `startGateway`, tokens, and the protocol both ends share. */
export { startGateway, type Gateway, type GatewayOptions } from './server.js'
export { createToken, verifyToken, TokenError, type TokenClaims } from './token.js'
export * as protocol from '../../core/protocol.js'
