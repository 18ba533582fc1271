// The part of isomorphic-ws (ws in Node, the global WebSocket in browsers) core uses. Core reads
// this declaration instead of @types/ws so it compiles with `types: []`.
declare module 'isomorphic-ws' {
  const WebSocket: new (url: string, protocols?: string | string[]) => unknown
  export default WebSocket
}
