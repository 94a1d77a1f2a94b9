import { interopSuite } from './suite.js';

interopSuite('amqp');
