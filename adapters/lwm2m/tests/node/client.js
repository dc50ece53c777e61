// A LwM2M 1.0 client built on lwm2m-node-lib (telefonicaid), for the interop test
// tests/interop_node.rs. Usage: node client.js <host> <port> <endpoint>
// Prints one JSON line per event: {"registered": true}, {"write": {...}}.
'use strict';

const client = require('lwm2m-node-lib').client;
const [host, port, endpoint] = process.argv.slice(2);

const config = {
    client: {
        lifetime: '300',
        version: '1.0',
        logLevel: 'FATAL',
        observe: { period: 500 },
        ipProtocol: 'udp4',
        serverProtocol: 'udp4',
        formats: [{ name: 'lightweightm2m/text', value: 1541 }],
        writeFormat: 'lightweightm2m/text'
    }
};

function fail(what, error) {
    process.stdout.write(JSON.stringify({ error: what + ': ' + error }) + '\n');
    process.exit(1);
}

client.init(config);
client.registry.create('/3/0', (error) => {
    if (error) { fail('create /3/0', error); }
    const values = [['0', 'NodeCo'], ['1', 'node-lwm2m'], ['2', 'N-1'], ['3', '0.1'], ['9', '50'], ['14', '+00:00']];
    let pending = values.length;
    for (const [id, value] of values) {
        client.registry.setResource('/3/0', id, value, (e) => {
            if (e) { fail('set /3/0/' + id, e); }
            pending -= 1;
            if (pending === 0) { register(); }
        });
    }
});

function register() {
    client.register(host, Number(port), '', endpoint, (error, info) => {
        if (error) { fail('register', error); }
        client.setHandler(info.serverInfo, 'write', (objectType, objectId, resourceId, value, callback) => {
            process.stdout.write(JSON.stringify({ write: { path: `/${objectType}/${objectId}/${resourceId}`, value } }) + '\n');
            client.registry.setResource(`/${objectType}/${objectId}`, String(resourceId), value, callback);
        });
        process.stdout.write(JSON.stringify({ registered: true }) + '\n');
        // The battery level drains: observers of /3/0/9 get notified.
        let level = 50;
        setInterval(() => {
            level = level > 0 ? level - 1 : 100;
            client.registry.setResource('/3/0', '9', String(level), () => {});
        }, 300);
    });
}
