import { interopSuite } from './suite.js';

interopSuite('redis');
