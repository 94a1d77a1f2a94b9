// `sprig beat` on amqp: the shared scenarios (beat-scenarios.ts).
import { beatScenarios } from './beat-scenarios.js';

beatScenarios('amqp');
