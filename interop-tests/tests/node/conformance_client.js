// A LwM2M 1.0 client built on lwm2m-node-lib (telefonicaid) with the Server object /1/0 and the
// Device object /3/0, for the conformance runner's interop test (tests/conformance_node.rs).
// Usage: node conformance_client.js <host> <port> <endpoint>. Prints {"registered": true}.
'use strict';

const client = require('lwm2m-node-lib').client;
const [host, port, endpoint] = process.argv.slice(2);

client.init({
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
});

function fail(what, error) {
    process.stdout.write(JSON.stringify({ error: what + ': ' + error }) + '\n');
    process.exit(1);
}

const objects = [
    ['/1/0', [['0', '1'], ['1', '300'], ['6', 'false'], ['7', 'U']]],
    ['/3/0', [['0', 'NodeCo'], ['1', 'node-lwm2m'], ['2', 'N-1'], ['3', '0.1'], ['9', '50'], ['14', '+00:00']]]
];

function create(i) {
    if (i === objects.length) { return register(); }
    const [path, values] = objects[i];
    client.registry.create(path, (error) => {
        if (error) { fail('create ' + path, error); }
        let pending = values.length;
        for (const [id, value] of values) {
            client.registry.setResource(path, id, value, (e) => {
                if (e) { fail('set ' + path + '/' + id, e); }
                pending -= 1;
                if (pending === 0) { create(i + 1); }
            });
        }
    });
}

function register() {
    client.register(host, Number(port), '', endpoint, (error) => {
        if (error) { fail('register', error); }
        process.stdout.write(JSON.stringify({ registered: true }) + '\n');
    });
}

create(0);
