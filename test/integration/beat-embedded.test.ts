// `sprig beat` on embedded: the shared scenarios (beat-scenarios.ts).
import { beatScenarios } from './beat-scenarios.js';

beatScenarios('embedded');
