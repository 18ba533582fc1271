// Branches on something not agreed (whether it runs in a browser), so a tab and a Node process
// make different calls at the same slot: RepJS stops the replica that comes second.
if (typeof document === 'undefined' && typeof importScripts === 'undefined') console.log('node ' + Math.random())
else console.log('browser ' + Date.now())
