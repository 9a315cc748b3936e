// Preloaded into the Portkey gateway (node --import): its start-server binds every interface and has
// no host option, and a benchmark must not open a port to the network. A listen() given a port but
// no host is bound to 127.0.0.1 instead.
import net from 'node:net'

const listen = net.Server.prototype.listen
net.Server.prototype.listen = function (this: net.Server, ...args: unknown[]) {
  if (typeof args[0] === 'number' && typeof args[1] !== 'string') {
    if (args[1] === undefined) args[1] = '127.0.0.1'
    else args.splice(1, 0, '127.0.0.1')
  }
  return (listen as (...a: unknown[]) => net.Server).apply(this, args)
} as typeof net.Server.prototype.listen
