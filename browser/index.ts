/**
 * RepJS in the browser. The engine is core's; a browser replica reaches etcd through the gateway
 * (node-gateway/gateway), whose client store lands with the gateway protocol. Until then this entry
 * exports the environment-neutral engine, for use with a Store of your own.
 */
export * from '../core/index.js'
