// `sprig beat` on postgres: the shared scenarios (beat-scenarios.ts).
import { beatScenarios } from './beat-scenarios.js';

beatScenarios('postgres');
